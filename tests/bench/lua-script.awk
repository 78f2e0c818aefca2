# lua-script.awk - the Lua text of one create script of lib/queue.c, as
# the FastCGI programs send it to SCRIPT LOAD: the string literals of the
# SEED_CHATS macro and of the script's .body, concatenated, with the C
# escapes undone.
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
/^#define SEED_CHATS/ { in_seed = 1 }
in_seed { seed = seed literals($0); if ($0 !~ /\\$/) in_seed = 0; next }
$0 ~ ("struct chat_script " script " = ") { in_script = 1; next }
in_script && /^};/ { in_script = 0; done = 1 }
in_script && /SEED_CHATS/ { text = text seed }
in_script && /\.name *=/ { next }
in_script { text = text literals($0) }
END {
	if (!done || text == "") { print "lua-script.awk: " script " not found" > "/dev/stderr"; exit 1 }
	printf "%s", text
}
