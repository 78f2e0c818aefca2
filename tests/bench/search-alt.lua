-- search-alt.lua - the wrk script of tests/bench/search-alternatives.sh:
-- POSTs the request bodies of a file, one JSON document a line, in turn,
-- to one path of the search engine.
--
--   ALT_PATH    the path, e.g. /alt-base/_search?preference=chat-1-1
--   ALT_BODIES  the file of bodies (one a line)
--
-- At the end, done() prints one line:
--
--   ALT rps=<req/s> p50_ms=<ms> p99_ms=<ms> requests=<n> non2xx=<n>
--       socket_errors=<n>

local threads = {}

function setup(thread)
	thread:set("thread_no", #threads + 1)
	table.insert(threads, thread)
end

local pool = {}
local pool_n = 0
local next_i = 0

function init(args)
	local path = os.getenv("ALT_PATH") or "/"
	local file = assert(os.getenv("ALT_BODIES"), "ALT_BODIES is not set")
	local f = assert(io.open(file, "r"), "cannot open " .. file)
	local headers = { ["Content-Type"] = "application/json" }
	for line in f:lines() do
		if line ~= "" then
			pool_n = pool_n + 1
			pool[pool_n] = wrk.format("POST", path, headers, line)
		end
	end
	f:close()
	assert(pool_n > 0, file .. " has no bodies")
	-- Each thread starts elsewhere in the list.
	next_i = ((thread_no or 1) - 1) * 7919 % pool_n
end

function request()
	next_i = next_i % pool_n + 1
	return pool[next_i]
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"ALT rps=%.1f p50_ms=%.2f p99_ms=%.2f requests=%d non2xx=%d socket_errors=%d\n",
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50) / 1000, latency:percentile(99) / 1000,
		summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
