# resp.awk - the rows of rows.awk as Redis commands in RESP, for
# redis-cli --pipe: one XADD of a message job per row into the job stream
# of the application's shard (the job format of lib/queue.h: t, a, c, n,
# ts, b), then the counters that lib/queue.c's create scripts would have
# left (chats handed out in the application, messages in each chat).
#
#   LC_ALL=C awk -F '\t' -v app=ID -v shard=K -v ts=EPOCH -f resp.awk rows.tsv
function arg(s) { return "$" length(s) "\r\n" s "\r\n" }
{
	printf "*15\r\n%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s", arg("XADD"), arg(jobs),
		arg("*"), arg("t"), arg("m"), arg("a"), arg(app), arg("c"), arg($1),
		arg("n"), arg($2), arg("ts"), arg(ts), arg("b"), arg($3)
	if ($2 > top[$1]) top[$1] = $2
	if ($1 > chats) chats = $1
}
BEGIN {
	prefix = "chat:{s" shard "}:"
	jobs = prefix "jobs"
}
END {
	printf "*3\r\n%s%s%s", arg("SET"), arg(prefix "a" app ":n"), arg(chats)
	for (c in top)
		printf "*3\r\n%s%s%s", arg("SET"),
			arg(prefix "a" app ":c" c ":n"), arg(top[c])
}
