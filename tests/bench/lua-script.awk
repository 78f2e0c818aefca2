# lua-script.awk - the Lua text of one create script of lib/queue.c, as
# the FastCGI programs send it to SCRIPT LOAD: the string literals of the
# macros its .body names (SEED_CHATS, IDEMPOTENCY: multi-line #defines of
# string literals) and of the .body itself, concatenated in order, with
# the C escapes undone.
#
#   awk -v script=create_message_script -f lua-script.awk lib/queue.c
#
# bench.sh checks the result against Redis (SCRIPT EXISTS of its SHA1,
# after the API has loaded its own copy), so a change of queue.c that this
# parser misreads is reported instead of measured wrongly.
function literals(line,    out, s) {
	out = ""
	while (match(line, /"([^"\\]|\\.)*"/)) {
		s = substr(line, RSTART + 1, RLENGTH - 2)
		gsub(/\\n/, "\n", s)
		gsub(/\\t/, "\t", s)
		gsub(/\\"/, "\"", s)
		gsub(/\\\\/, "\\", s)
		out = out s
		line = substr(line, RSTART + RLENGTH)
	}
	return out
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
in_script {
	# Macro names outside the string literals, in the order written.
	rest = $0
	gsub(/"([^"\\]|\\.)*"/, " ", rest)
	n = split(rest, words, /[^A-Za-z0-9_]+/)
	for (i = 1; i <= n; i++)
		if (words[i] in macros) text = text macros[words[i]]
	text = text literals($0)
}
END {
	if (!done || text == "") { print "lua-script.awk: " script " not found" > "/dev/stderr"; exit 1 }
	printf "%s", text
}
