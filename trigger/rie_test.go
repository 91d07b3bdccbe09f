package trigger

import (
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/celebrity-zones/cz/engine"
	"github.com/celebrity-zones/cz/internal/testenv"
	"github.com/celebrity-zones/cz/layout"
)

// al2023GLIBC is the C library of the provided.al2023 runtime (2.34): a
// cgo bootstrap must not need a newer symbol version.
const al2023GLIBC = 34

// TestBootstrapUnderRIE builds cmd/czlambda as the provided.al2023
// `bootstrap` and runs it under the Lambda runtime interface emulator,
// which speaks the real Runtime API to it. Events go in over HTTP as
// Lambda would deliver them; the function submits to a running group of
// three coordinators over TLS with a bearer token, all configured by the
// environment; a second function reads the token and CA from a stand-in
// Secrets Manager instead (CZ_SECRET_ARN).
func TestBootstrapUnderRIE(t *testing.T) {
	dir := t.TempDir()
	bootstrap := testenv.BuildLambda(t)
	checkGLIBC(t, bootstrap)

	coord := startCluster(t, "rie-token")
	client, err := DialCoordinators(Config{Coordinators: coord.APIAddrs, Token: "rie-token", CAPEM: coord.caPEM(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	buckets := layout.Local(dir)
	env := []string{
		"CZ_TRIGGER=schedule", "CZ_TIMEZONE=Asia/Kolkata",
		"CZ_EXTERNAL_URL=" + buckets.External, "CZ_INTERNAL_URL=" + buckets.Internal, "CZ_CONTENT_URL=" + buckets.Content,
		"CZ_JOB_CONFIG=" + `{"partitions": 3}`, "CZ_COORDINATORS=" + strings.Join(coord.APIAddrs, ","),
	}
	fn := testenv.StartLambda(t, bootstrap, append(env, "CZ_TOKEN=rie-token", "CZ_CA_FILE="+filepath.Join(coord.certs, "ca.pem")))
	call := func(payload []byte) map[string]any { t.Helper(); return fn.Invoke(t, payload) }

	sched := fixture(t, "eventbridge-scheduled.json")
	r := call(sched)
	if r["action"] != "submitted" || r["name"] != "daily-runner-2026-11-01" || r["idempotency_key"] != "eventbridge/53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa" {
		t.Fatalf("scheduled event: %v", r)
	}
	if again := call(sched); again["job"] != r["job"] {
		t.Errorf("second delivery started %v; want %v again", again["job"], r["job"])
	}
	// Followers serve reads from their replica: poll until it caught up.
	var j *engine.Job
	eventually(t, "the job to be readable", func() bool {
		j, err = client.Job(ctx, r["job"].(string))
		return err == nil
	})
	if j.Spec.Stages[1].Partitions != 3 {
		t.Fatalf("the coordinators have job %v (want 3 inference partitions from CZ_JOB_CONFIG)", j)
	}
	if r := call(fixture(t, "eventbridge-by-hand.json")); r["name"] != "daily-runner-2026-11-01" || r["job"] == j.ID {
		t.Errorf("by-hand event: %v; want another job for the same day", r)
	}
	// A schedule function refuses an upload, and the body says so.
	if r := call(fixture(t, "s3-zone-list-put.json")); !strings.Contains(fmt.Sprint(r["errorMessage"]), "schedule function") {
		t.Errorf("upload sent to the schedule function: %v, want an errorMessage", r)
	}

	// A second function takes its token and CA from the cluster secret
	// (a stand-in Secrets Manager through the SDK's standard endpoint
	// variable), reads it once for the container, reaches the same
	// cluster (the same delivery finds the first job) and logs neither.
	secret, _ := json.Marshal(map[string]string{"ca_pem": string(coord.caPEM(t)), "cert_pem": "unused", "key_pem": "unused", "token": "rie-token"})
	arn := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cz-rie"
	sm := startSecretsManager(t, map[string]string{arn: string(secret)})
	env = append(append(env, sdkEnv(sm.URL, dir)...), "CZ_SECRET_ARN="+arn)
	secretFn := testenv.StartLambda(t, bootstrap, env)
	for range 2 {
		if r2 := secretFn.Invoke(t, sched); r2["job"] != r["job"] {
			t.Errorf("function configured by the secret: %v; want job %v", r2, r["job"])
		}
	}
	if got := sm.asked(); len(got) != 1 || got[0] != arn {
		t.Errorf("Secrets Manager was asked for %v; want %s once per container", got, arn)
	}
	caBody := strings.Split(string(coord.caPEM(t)), "\n")[1]
	for _, v := range []string{"rie-token", caBody} {
		if strings.Contains(secretFn.Logs(), v) {
			t.Errorf("the function's output carries a secret value (%q)", v)
		}
	}

	eventually(t, "two jobs", func() bool {
		js, err := client.Jobs(ctx)
		return err == nil && len(js) == 2
	})
	time.Sleep(200 * time.Millisecond) // and no third one on its way
	if js, err := client.Jobs(ctx); err != nil || len(js) != 2 {
		t.Errorf("the coordinators hold %d jobs (%v), want 2", len(js), err)
	}
}

// checkGLIBC fails when the binary needs a C library newer than the
// runtime's.
func checkGLIBC(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		return // static: nothing to check
	}
	newest, which := 0, ""
	for _, s := range syms {
		v, ok := strings.CutPrefix(s.Version, "GLIBC_2.")
		if !ok {
			continue
		}
		minor, _ := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
		if minor > newest {
			newest, which = minor, s.Name+"@"+s.Version
		}
	}
	if newest > al2023GLIBC {
		t.Errorf("bootstrap needs %s; provided.al2023 has glibc 2.%d", which, al2023GLIBC)
	}
	t.Logf("bootstrap: newest glibc symbol %s", which)
}

// eventually polls cond for a few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
