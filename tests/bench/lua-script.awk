# lua-script.awk - the Lua text of one create script of lib/queue.c, as
# the FastCGI programs send it to SCRIPT LOAD: the string literals of the
# macros its .body names (SEED_CHATS, IDEMPOTENCY: multi-line #defines of
# string literals), the names of lib/job.h it takes (one-line #defines of
# a string literal; Q(NAME) puts the value between single quotes) and the
# literals of the .body itself, concatenated in the order written, with
# the C escapes undone.
#
#   awk -v script=create_message_script -f lua-script.awk lib/job.h lib/queue.c
#
# bench.sh checks the result against Redis (SCRIPT EXISTS of its SHA1,
# after the API has loaded its own copy), so a change of queue.c that this
# parser misreads is reported instead of measured wrongly.
function unescape(s) {
	gsub(/\\n/, "\n", s)
	gsub(/\\t/, "\t", s)
	gsub(/\\"/, "\"", s)
	gsub(/\\\\/, "\\", s)
	return s
}
function literals(line,    out) {
	out = ""
	while (match(line, /"([^"\\]|\\.)*"/)) {
		out = out unescape(substr(line, RSTART + 1, RLENGTH - 2))
		line = substr(line, RSTART + RLENGTH)
	}
	return out
}
# The string literals and the names of `line`, in order: a multi-line
# macro or a name of job.h gives its text; Q(NAME) its text quoted.
function tokens(line,    out, t, v, quote) {
	out = ""
	quote = 0
	while (match(line, /"([^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*/)) {
		t = substr(line, RSTART, RLENGTH)
		line = substr(line, RSTART + RLENGTH)
		if (t ~ /^"/) {
			out = out unescape(substr(t, 2, length(t) - 2))
		} else if (t == "Q") {
			quote = 1
		} else if ((t in macros) || (t in names)) {
			v = (t in macros) ? macros[t] : names[t]
			out = out (quote ? "'" v "'" : v)
			quote = 0
		}
	}
	return out
}
# One-line #defines of a string literal (lib/job.h's names).
/^#define [A-Z_]+[ \t]+"([^"\\]|\\.)*"[ \t]*(\/\*.*)?$/ {
	names[$2] = literals($0)
	next
}
/^#define [A-Z_]+ *\\$/ { in_macro = $2; macros[in_macro] = "" }
in_macro != "" {
	macros[in_macro] = macros[in_macro] literals($0)
	if ($0 !~ /\\$/) in_macro = ""
	next
}
$0 ~ ("struct chat_script " script " = ") { in_script = 1; next }
in_script && /^};/ { in_script = 0; done = 1 }
in_script && /\.name *=/ { next }
in_script { text = text tokens($0) }
END {
	if (!done || text == "") { print "lua-script.awk: " script " not found" > "/dev/stderr"; exit 1 }
	printf "%s", text
}
