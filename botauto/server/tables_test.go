package server_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	autov1 "github.com/botserver-go/botserver-go/proto/bot/auto/v1"
)

func TestBotTables(t *testing.T) {
	e := newEnv(t)
	e.script("shop", "tables.bas", "TABLE stores\n city AS STRING(20)\n open AS STRING\n bikes AS INTEGER\n rent AS BOOLEAN\nEND TABLE\n")
	e.script("shop", "start.bas", `ON ERROR RESUME NEXT
SAVE "stores", "Lisbon", "09:00", 12, TRUE
WITH s
    city = "Porto"
    open = "10:00"
    bikes = 5
END WITH
id = INSERT "stores", s
TALK "porto id " + id
hours = FIND "stores", "city=" + "Porto"
TALK hours.city + " opens " + hours.open + " rent " + ISNULL(hours.rent)
many = FIND ALL "stores", "bikes >= 5 AND bikes < 100"
TALK LEN(many) + " stores with 5+ bikes, first " + many[0].city
WITH u
    bikes = 7
END WITH
TALK "updated " + UPDATE("stores", "city='Porto'", u)
p = FIND "stores", "id=" + id
TALK "porto bikes " + p.bikes
TALK "nothing: " + ISNULL(FIND("stores", "city=Faro"))
SAVE "stores", "Braga", "08:00", "many"
TALK "bad type: " + ERROR MESSAGE
x = FIND "stores", "colour=red"
TALK "bad field: " + ERROR MESSAGE
x = FIND "nope", ""
TALK "no table: " + ERROR MESSAGE
x = FIND "stores", "city='x' OR 1=1"
TALK "injection: " + ISNULL(x)
TALK "deleted " + DELETE("stores", "bikes < 10")
TALK "left " + LEN(FIND ALL("stores"))
`)
	r := e.replica()
	ctx := as(orgA)
	tr := r.say(t, ctx, "shop", "c", "")
	got := tr.talk()
	want := []string{
		"porto id 2",
		"Porto opens 10:00 rent true",
		"2 stores with 5+ bikes, first Lisbon",
		"updated 1",
		"porto bikes 7",
		"nothing: true",
	}
	if len(got) < 12 || !slices.Equal(got[:6], want) {
		t.Fatalf("transcript:\n%s\n(end %+v)", strings.Join(got, "\n"), tr.end)
	}
	for i, sub := range []string{"stores.bikes must be a number", "table stores has no field colour", `no table "nope"`, "injection: true", "deleted 1", "left 1"} {
		if !strings.Contains(got[6+i], sub) {
			t.Errorf("line %d = %q, want %q", 6+i, got[6+i], sub)
		}
	}
	lt, err := r.client.ListTables(ctx, &autov1.ListTablesRequest{Bot: "shop"})
	if err != nil || len(lt.Tables) != 1 || len(lt.Tables[0].Fields) != 4 || lt.Tables[0].Fields[0].MaxLength != 20 {
		t.Fatalf("tables = %v, %v", lt, err)
	}
	q, err := r.client.QueryTable(ctx, &autov1.QueryTableRequest{Bot: "shop", Table: "stores", Filter: "bikes >= 1"})
	if err != nil || len(q.RowsJson) != 1 || !strings.Contains(q.RowsJson[0], `"city":"Lisbon"`) {
		t.Fatalf("query = %v, %v", q, err)
	}
	if _, err := r.client.QueryTable(ctx, &autov1.QueryTableRequest{Bot: "shop", Table: "stores", Filter: "x=1"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad filter: %v", err)
	}
	if _, err := r.client.QueryTable(as(orgB), &autov1.QueryTableRequest{Bot: "shop", Table: "stores"}); status.Code(err) != codes.NotFound {
		t.Fatalf("other org: %v", err)
	}
	// The rows are the organisation's: another org's bot of the same name sees none.
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM auto.table_rows WHERE org_id = $1`, orgA).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows = %d, %v", n, err)
	}
}
