package trigger

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/celebrity-zones/cz/jobs"
	"github.com/celebrity-zones/cz/notify"
)

// Kind says which events a deployed function accepts.
type Kind string

const (
	// Schedule functions take EventBridge events (Daily Runner).
	Schedule Kind = "schedule"
	// Upload functions take S3 ObjectCreated events (Batch Runner).
	Upload Kind = "upload"
	// Any accepts both, telling them apart by their shape.
	Any Kind = ""
)

// Config is a function's configuration, read from its environment.
type Config struct {
	// Kind restricts the events the function accepts (CZ_TRIGGER).
	Kind Kind
	// Jobs is the runners' configuration that travels in the job specs:
	// CZ_JOB_CONFIG (JSON of jobs.Config), with the bucket URLs
	// CZ_EXTERNAL_URL, CZ_INTERNAL_URL and CZ_CONTENT_URL overriding it.
	Jobs jobs.Config
	// TimeZone decides what "yesterday" is for the Daily Runner
	// (CZ_TIMEZONE, an IANA name; default UTC).
	TimeZone *time.Location
	// Coordinators are the coordinators' gRPC addresses, host:port,
	// tried in order (CZ_COORDINATORS, comma-separated).
	Coordinators []string
	// Token is the Client service's bearer token (CZ_TOKEN).
	Token string
	// CAPEM is the cluster CA certificate (CZ_CA_PEM, or the file
	// CZ_CA_FILE names). Insecure (CZ_INSECURE=true) dials without TLS:
	// local tests only.
	CAPEM    []byte
	Insecure bool
	// SecretARN is the cluster secret in Secrets Manager
	// (CZ_SECRET_ARN), whose token and ca_pem Load reads into Token and
	// CAPEM; it excludes CZ_TOKEN, CZ_CA_PEM and CZ_CA_FILE.
	SecretARN string
	// StatusURL is the status page, for links in alerts (CZ_STATUS_URL).
	StatusURL string
	// Notify is where alerts about rejected uploads go: CZ_GCHAT_WEBHOOK,
	// CZ_SMTP_ADDR, CZ_SMTP_USER, CZ_SMTP_PASSWORD, CZ_MAIL_FROM and
	// CZ_MAIL_TO (comma-separated).
	Notify notify.Config
}

// FromEnv reads a Config through getenv (os.Getenv in the bootstrap).
// readFile reads CZ_CA_FILE (os.ReadFile). With CZ_SECRET_ARN set it
// leaves Token and CAPEM empty: Load reads them from the secret.
func FromEnv(getenv func(string) string, readFile func(string) ([]byte, error)) (Config, error) {
	var c Config
	switch k := Kind(getenv("CZ_TRIGGER")); k {
	case Schedule, Upload, Any:
		c.Kind = k
	default:
		return c, fmt.Errorf("CZ_TRIGGER=%q: expected %q, %q or empty (both)", k, Schedule, Upload)
	}
	if s := getenv("CZ_JOB_CONFIG"); s != "" {
		if err := json.Unmarshal([]byte(s), &c.Jobs); err != nil {
			return c, fmt.Errorf("CZ_JOB_CONFIG: %w", err)
		}
	}
	for _, v := range []struct {
		name string
		dst  *string
	}{{"CZ_EXTERNAL_URL", &c.Jobs.Buckets.External}, {"CZ_INTERNAL_URL", &c.Jobs.Buckets.Internal}, {"CZ_CONTENT_URL", &c.Jobs.Buckets.Content}} {
		if s := getenv(v.name); s != "" {
			*v.dst = s
		}
	}
	if c.Jobs.Buckets.External == "" || c.Jobs.Buckets.Internal == "" || c.Jobs.Buckets.Content == "" {
		return c, fmt.Errorf("bucket URLs: set CZ_EXTERNAL_URL, CZ_INTERNAL_URL and CZ_CONTENT_URL (or \"buckets\" in CZ_JOB_CONFIG); have %+v", c.Jobs.Buckets)
	}
	c.TimeZone = time.UTC
	if tz := getenv("CZ_TIMEZONE"); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return c, fmt.Errorf("CZ_TIMEZONE=%q: %w", tz, err)
		}
		c.TimeZone = loc
	}
	c.Coordinators = splitList(getenv("CZ_COORDINATORS"))
	if len(c.Coordinators) == 0 {
		return c, fmt.Errorf("CZ_COORDINATORS: no coordinator address (expected host:port[,host:port...])")
	}
	c.Token = getenv("CZ_TOKEN")
	if c.SecretARN = getenv("CZ_SECRET_ARN"); c.SecretARN != "" {
		var both []string
		for _, k := range []string{"CZ_TOKEN", "CZ_CA_PEM", "CZ_CA_FILE"} {
			if getenv(k) != "" {
				both = append(both, k)
			}
		}
		if len(both) > 0 {
			return c, fmt.Errorf("CZ_SECRET_ARN and %s are both set: the token and CA come from the secret; unset %s", strings.Join(both, ", "), strings.Join(both, ", "))
		}
	}
	if s := getenv("CZ_INSECURE"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return c, fmt.Errorf("CZ_INSECURE=%q: expected true or false", s)
		}
		c.Insecure = b
	}
	c.CAPEM = []byte(getenv("CZ_CA_PEM"))
	if f := getenv("CZ_CA_FILE"); f != "" && len(c.CAPEM) == 0 {
		data, err := readFile(f)
		if err != nil {
			return c, fmt.Errorf("CZ_CA_FILE: %w", err)
		}
		c.CAPEM = data
	}
	if !c.Insecure && len(c.CAPEM) == 0 && c.SecretARN == "" {
		return c, fmt.Errorf("no cluster CA: set CZ_SECRET_ARN, CZ_CA_PEM or CZ_CA_FILE (or CZ_INSECURE=true for a local test cluster)")
	}
	c.StatusURL = strings.TrimSuffix(getenv("CZ_STATUS_URL"), "/")
	c.Notify = notify.Config{
		GChatWebhook: getenv("CZ_GCHAT_WEBHOOK"),
		SMTPAddr:     getenv("CZ_SMTP_ADDR"),
		SMTPUser:     getenv("CZ_SMTP_USER"),
		SMTPPassword: getenv("CZ_SMTP_PASSWORD"),
		From:         getenv("CZ_MAIL_FROM"),
		To:           splitList(getenv("CZ_MAIL_TO")),
	}
	if c.Notify.From == "" {
		c.Notify.From = "cz@localhost"
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
