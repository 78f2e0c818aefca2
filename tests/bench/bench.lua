-- bench.lua - the wrk script of every HTTP benchmark (tests/bench/bench.sh).
--
-- Configured by the environment (each wrk thread reads it in init):
--
--   BENCH_KIND     ceiling | fcgi_floor | fcgi_keep | post_message | post_chat |
--                  get_message | list | search | search_latency
--   BENCH_TOKEN    application token (all kinds but ceiling)
--   BENCH_CHAT     chat number (post_message, get_message, list, search)
--   BENCH_MAX      highest persisted message number of that chat: the
--                  messages read and the list pages start are drawn from
--                  1..BENCH_MAX
--   BENCH_WORDS    the vocabulary file (tests/bench/words.txt): message
--                  bodies are made of its words, search queries are parts
--                  of them
--   BENCH_RATE     total requests/s to aim at (0 or unset: as fast as the
--                  server answers). wrk2 is not packaged in Debian: this
--                  approximates it with wrk's delay() hook, a per-thread
--                  schedule (one slot every BENCH_THREADS/BENCH_RATE
--                  seconds, from CLOCK_MONOTONIC through LuaJIT's FFI) that
--                  the next request of any of the thread's connections
--                  waits for. A thread that falls behind does not burst to
--                  catch up; bench.sh reports the rate reached.
--   BENCH_THREADS  wrk's -t, for the schedule
--
-- Every request is drawn from a pool of BENCH_POOL (default 1024)
-- requests formatted once per thread, so all kinds, the ceiling included,
-- cost the client the same: one Lua call per request, no formatting.
--
-- At the end, done() prints one line for bench.sh:
--
--   BENCH rps=<req/s> p50_ms=<ms> p99_ms=<ms> requests=<n> non2xx=<n>
--         socket_errors=<n>
--
-- non2xx counts answers of 400 and above (what wrk calls status errors);
-- socket_errors sums connect, read, write and timeout errors.

local ffi = require("ffi")
ffi.cdef [[
typedef long bench_time_t;
struct bench_timespec { bench_time_t tv_sec; long tv_nsec; };
int clock_gettime(int clk_id, struct bench_timespec *tp);
]]
local ts = ffi.new("struct bench_timespec")

local function now_ms()
	ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
	return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local function env(name, default)
	local v = os.getenv(name)
	if v == nil or v == "" then return default end
	return v
end

local threads = {}

function setup(thread)
	thread:set("thread_no", #threads + 1)
	table.insert(threads, thread)
end

local pool = {}
local pool_n = 0
local next_i = 0

local function load_words(path)
	local words = {}
	local f = assert(io.open(path, "r"), "cannot open " .. path)
	for line in f:lines() do
		if line:match("^%a+$") then table.insert(words, line) end
	end
	f:close()
	assert(#words > 0, path .. " has no words")
	return words
end

local function pick(t) return t[math.random(#t)] end

-- A body of 8 to 16 words, about 60 to 130 bytes, like a chat message.
local function body_text(words)
	local n = math.random(8, 16)
	local out = {}
	for i = 1, n do out[i] = pick(words) end
	return table.concat(out, " ")
end

-- A partial-match query: part of a word (3 to 5 letters from inside it,
-- "ell" of "hello"), now and then two such parts.
local function partial(words)
	local w
	repeat w = pick(words) until #w >= 5
	local len = math.random(3, math.min(5, #w - 1))
	local from = math.random(2, #w - len + 1)
	return w:sub(from, from + len - 1)
end

local function query(words)
	if math.random(4) == 1 then
		return partial(words) .. "+" .. partial(words)
	end
	return partial(words)
end

function init(args)
	-- Different draws in every thread and run.
	math.randomseed(math.floor(now_ms() * 1000) % 2147483647 + (thread_no or 0) * 7919)
	local kind = env("BENCH_KIND", "ceiling")
	local token = env("BENCH_TOKEN", "")
	local chat = env("BENCH_CHAT", "1")
	local max = tonumber(env("BENCH_MAX", "1"))
	local size = tonumber(env("BENCH_POOL", "1024"))
	local words = load_words(env("BENCH_WORDS", "words.txt"))
	local base = "/applications/" .. token .. "/chats"
	local json = { ["Content-Type"] = "application/json" }
	if max < 1 then max = 1 end

	for i = 1, size do
		local r
		if kind == "ceiling" then
			r = wrk.format("GET", "/bench/ceiling")
		elseif kind == "fcgi_floor" then
			r = wrk.format("GET", "/bench/fcgi")
		elseif kind == "fcgi_keep" then
			r = wrk.format("GET", "/bench/fcgi-keep")
		elseif kind == "post_message" then
			r = wrk.format("POST", base .. "/" .. chat .. "/messages", json,
				'{"body":"' .. body_text(words) .. '"}')
		elseif kind == "post_chat" then
			r = wrk.format("POST", base)
		elseif kind == "get_message" then
			r = wrk.format("GET", base .. "/" .. chat .. "/messages/" ..
				math.random(max))
		elseif kind == "list" then
			local top = max > 50 and max - 50 or 0
			r = wrk.format("GET", base .. "/" .. chat ..
				"/messages?limit=50&after=" .. math.random(0, top))
		elseif kind == "search" or kind == "search_latency" then
			r = wrk.format("GET", base .. "/" .. chat ..
				"/messages/search?q=" .. query(words))
		else
			error("unknown BENCH_KIND " .. kind)
		end
		pool[i] = r
	end
	pool_n = size

	local rate = tonumber(env("BENCH_RATE", "0"))
	if rate > 0 then
		local per_thread = rate / tonumber(env("BENCH_THREADS", "1"))
		local interval = 1000 / per_thread
		local next_at = nil
		-- Defined only when pacing: wrk skips the hook when it is absent.
		-- The first request of a thread goes at once, so that a short run
		-- at a low rate (a smoke run on a busy machine) still sends some.
		function delay()
			local now = now_ms()
			if next_at == nil or next_at < now - interval then
				next_at = now
				return 0
			end
			next_at = next_at + interval
			local wait = next_at - now
			if wait < 0 then return 0 end
			return math.floor(wait)
		end
	end
end

function request()
	next_i = next_i % pool_n + 1
	return pool[next_i]
end

function done(summary, latency, requests)
	local e = summary.errors
	local secs = summary.duration / 1e6
	io.write(string.format(
		"BENCH rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d non2xx=%d socket_errors=%d\n",
		summary.requests / secs, latency:percentile(50) / 1000,
		latency:percentile(99) / 1000, summary.requests, e.status,
		e.connect + e.read + e.write + e.timeout))
end
