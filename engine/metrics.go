package engine

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the engine's Prometheus metrics, on their own registry so
// that several engines (tests) do not clash.
type Metrics struct {
	Registry  *prometheus.Registry
	attempts  *prometheus.CounterVec
	jobs      *prometheus.CounterVec
	planned   prometheus.Counter
	index     prometheus.Gauge
	held      prometheus.GaugeFunc
	forgotten prometheus.Counter
}

func newMetrics(fsm *FSM) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cz_engine_attempt_transitions_total", Help: "Task attempts that reached a state.",
		}, []string{"state"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cz_engine_job_transitions_total", Help: "Jobs that reached a state.",
		}, []string{"state"}),
		planned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cz_engine_planned_assignments_total", Help: "Assignments the scheduler planned (some are refused as stale).",
		}),
		index: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cz_engine_log_index", Help: "Index of the last command applied to the state machine.",
		}),
		held: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cz_engine_jobs_held", Help: "Jobs the state machine holds, running and finished (see Retention).",
		}, func() float64 {
			n := 0
			fsm.Read(func(s *State) { n = len(s.Jobs) })
			return float64(n)
		}),
		forgotten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cz_engine_jobs_forgotten_total", Help: "Finished jobs this engine removed from the state machine (readable from the store).",
		}),
	}
	m.Registry.MustRegister(m.attempts, m.jobs, m.planned, m.index, m.held, m.forgotten)
	return m
}
