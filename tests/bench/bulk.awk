# bulk.awk - the rows of rows.awk as the _bulk requests the indexer sends
# (lib/search.c add_bulk_doc: a `create` with the id "<app>-<chat>-<number>"
# and the fields app, chat, number, body, created_at, updated_at, json_len),
# cut into files dir/b.000001, …: `docs` documents a request, or at most
# `bytes` bytes of NDJSON a request. Prints how many files. Bodies are ASCII
# letters and spaces, so their JSON length is their length.
#
#   LC_ALL=C awk -F '\t' -v docs=N -v bytes=0 -v dir=DIR -v app=1 \
#       -v ts=EPOCH -f bulk.awk rows.tsv
function out(s) {
	if (used && ((docs && n >= docs) || (bytes && used + length(s) > bytes))) {
		close(f)
		used = 0
		n = 0
	}
	if (!used)
		f = sprintf("%s/b.%06d", dir, ++k)
	printf "%s", s > f
	used += length(s)
	n++
}
{
	out(sprintf("{\"create\":{\"_id\":\"%d-%d-%d\"}}\n{\"app\":%d,\"chat\":%d,\"number\":%d,\"body\":\"%s\",\"created_at\":%d,\"updated_at\":%d,\"json_len\":%d}\n",
		app, $1, $2, app, $1, $2, $3, ts, ts, length($3)))
}
END { close(f); print k + 0 }
