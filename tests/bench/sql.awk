# sql.awk - the rows of rows.awk as the MariaDB ceiling's SQL: multi-row
# INSERTs of `per` rows into `table`, each its own statement and, with
# autocommit, its own commit. Columns and expressions are those of the
# worker's insert (lib/messages.c). The first input file maps chat numbers
# to chat ids ("<number>\t<id>" lines), the second is rows.tsv.
#
#   LC_ALL=C awk -F '\t' -v table=T -v per=500 -v ts=EPOCH -f sql.awk ids.tsv rows.tsv
FNR == NR { id[$1] = $2; next }
{
	if (n % per == 0) {
		if (n) print ";"
		printf "INSERT INTO %s (chat_id, number, body, created_at, updated_at) VALUES\n", table
	} else {
		print ","
	}
	printf "(%d,%d,'%s',FROM_UNIXTIME(%d),FROM_UNIXTIME(%d))", ($1 in id) ? id[$1] : $1, $2, $3, ts, ts
	n++
}
END { if (n) print ";" }
