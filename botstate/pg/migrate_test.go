package pg_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/botserver-go/botserver-go/botstate/pg"
	"github.com/botserver-go/botserver-go/botstate/testutil"
)

func TestMigrateCreatesSchemaWithOwnTableAndIsIdempotent(t *testing.T) {
	ctx := context.Background()
	pool, url := testutil.NewPool(t)
	own := fstest.MapFS{
		"2_notes.up.sql":   {Data: []byte("CREATE TABLE notes (id int primary key);")},
		"2_notes.down.sql": {Data: []byte("DROP TABLE notes;")},
	}
	res, err := pg.Migrate(ctx, url, pg.Schema{Name: "chat", FS: own})
	if err != nil {
		t.Fatal(err)
	}
	if res.From != 0 || res.To != 2 || res.AlreadyMoved {
		t.Fatalf("first run: %+v", res)
	}
	// Unqualified names land in the service's schema, never in public.
	var tables []string
	rows, _ := pool.Query(ctx, `SELECT table_schema||'.'||table_name FROM information_schema.tables
		WHERE table_schema NOT IN ('pg_catalog','information_schema') ORDER BY 1`)
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		tables = append(tables, s)
	}
	want := []string{"chat.notes", "chat.outbox", "chat.processed_events", "chat.schema_migrations"}
	if len(tables) != len(want) {
		t.Fatalf("tables = %v, want %v", tables, want)
	}
	for i := range want {
		if tables[i] != want[i] {
			t.Fatalf("tables = %v, want %v", tables, want)
		}
	}
	res, err = pg.Migrate(ctx, url, pg.Schema{Name: "chat", FS: own})
	if err != nil || !res.AlreadyMoved || res.To != 2 {
		t.Fatalf("second run: %+v %v", res, err)
	}
}

// Pool settings in DATABASE_URL are the pool's, not server parameters.
func TestMigrateAcceptsPoolSettingsInTheURL(t *testing.T) {
	_, url := testutil.NewPool(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	if _, err := pg.Migrate(context.Background(), url+sep+"pool_max_conns=8", pg.Schema{Name: "auto"}); err != nil {
		t.Fatal(err)
	}
}

func TestReplicasMigrateConcurrently(t *testing.T) {
	_, url := testutil.NewPool(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := pg.Migrate(context.Background(), url, pg.Schema{Name: "auto"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestMigrateRejectsBadInput(t *testing.T) {
	_, url := testutil.NewPool(t)
	ctx := context.Background()
	if _, err := pg.Migrate(ctx, url, pg.Schema{Name: "Bad-Name"}); err == nil {
		t.Fatal("bad schema name accepted")
	}
	v1 := fstest.MapFS{"1_x.up.sql": {Data: []byte("SELECT 1")}}
	if _, err := pg.Migrate(ctx, url, pg.Schema{Name: "x", FS: v1}); err == nil {
		t.Fatal("version 1 accepted")
	}
	broken := fstest.MapFS{"2_bad.up.sql": {Data: []byte("CREATE TABLE oops (")}}
	if _, err := pg.Migrate(ctx, url, pg.Schema{Name: "y", FS: broken}); err == nil {
		t.Fatal("broken SQL accepted")
	}
	// A failed migration leaves the schema dirty, and says so clearly.
	if _, err := pg.Migrate(ctx, url, pg.Schema{Name: "y", FS: broken}); err == nil || !strings.Contains(err.Error(), "dirty at version 2") {
		t.Fatalf("dirty schema: want a clear error, got %v", err)
	}
}
