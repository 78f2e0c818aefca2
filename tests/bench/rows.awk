# rows.awk - the messages of the worker benchmark, as TSV lines
# "<chat number>\t<message number>\t<body>" on stdout.
#
#   awk -v n=JOBS -v hot=HOT -v chats=CHATS -v seed=S -f rows.awk words.txt
#
# n messages: each goes to chat 1 (the chat that the search benchmarks
# query) with probability hot/n, else to one of chats 2..chats drawn at
# random, so chats and messages interleave in the stream as they would in
# production. Numbers count from 1 in each chat. Bodies are 8 to 16 words
# of words.txt (60 to 130 bytes), ASCII letters and spaces only, so they
# need no escaping in RESP, JSON or SQL. The same seed gives the same rows.
NF { words[++nw] = $1 }
END {
	if (nw == 0) { print "rows.awk: no words" > "/dev/stderr"; exit 1 }
	srand(seed)
	if (chats < 1) chats = 1
	p = n > 0 ? hot / n : 0
	for (i = 1; i <= n; i++) {
		if (chats == 1 || rand() < p)
			c = 1
		else
			c = 2 + int(rand() * (chats - 1))
		k = 8 + int(rand() * 9)
		body = words[1 + int(rand() * nw)]
		for (j = 2; j <= k; j++)
			body = body " " words[1 + int(rand() * nw)]
		printf "%d\t%d\t%s\n", c, ++num[c], body
	}
}
