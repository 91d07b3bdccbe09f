package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/engine/local"
	"github.com/celebrity-zones/cz/store"
)

// An operator reads its upstream stage's committed outputs, writes its
// own to attempt-scoped keys, and returns a retryable error, a Fatal one,
// or nil. The job's outputs are read back through its manifest.
func ExampleRegister() {
	engine.Register("example.greet", func(ctx context.Context, t *engine.Task) error {
		return t.Put(ctx, "greeting", []byte(fmt.Sprintf("%s #%d", t.Param("greeting"), t.Partition)))
	})
	engine.Register("example.shout", func(ctx context.Context, t *engine.Task) error {
		var lines []string
		for _, in := range t.Inputs("greet") {
			data, err := t.ReadInput(ctx, in)
			if err != nil {
				return err // retryable: the store may be back next time
			}
			lines = append(lines, strings.ToUpper(string(data)))
		}
		if len(lines) == 0 {
			return engine.Fatal(fmt.Errorf("no greetings")) // retrying cannot help
		}
		w, err := t.Output(ctx, "shouted.txt")
		if err != nil {
			return err
		}
		t.Count("lines", int64(len(lines)))
		if _, err := io.WriteString(w, strings.Join(lines, "\n")); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	})

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	b, _ := store.OpenDir(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, _ := local.Start(b, quiet, engine.Resources{CPU: 2, MemoryMB: 256})
	defer m.Stop()

	spec, err := engine.ParseSpec("greet.json", []byte(`{
	  "version": 1, "name": "greet", "params": {"greeting": "hello"},
	  "stages": [
	    {"name": "greet", "operator": "example.greet", "partitions": 2, "resources": {"cpu": 1}},
	    {"name": "shout", "operator": "example.shout", "partitions": 1, "upstream": ["greet"], "resources": {"cpu": 1}}
	  ]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	j, _ := m.Run(context.Background(), spec)
	fmt.Println(j.State)
	outs, _ := engine.ReadJobOutputs(context.Background(), b, j.ID)
	data, _ := store.ReadAll(context.Background(), b, outs["shout"].Partitions[0].Outputs[0].Key)
	fmt.Println(string(data))
	// Output:
	// succeeded
	// HELLO #0
	// HELLO #1
}
