// Package metrics writes a run's figures in the Prometheus text format
// for node_exporter's textfile collector (--metrics-file, SPEC §8), with
// Prometheus' client library: its registry checks names and labels, and
// WriteToTextfile writes a temporary file beside the target and renames it
// over, so the collector never reads half a file.
package metrics

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Run is what a metrics file tells about a program's last run.
type Run struct {
	// Program names the metrics: tokenevents_<program>_….
	Program string
	// Outcome is the run's outcome; Outcomes lists every outcome the
	// program records, so that each has a series (1 for this run's, 0 for
	// the others) and an alert can match on one.
	Outcome  string
	Outcomes []string
	Success  bool // the run did its work: its end becomes the last success time
	End      time.Time
	Seconds  float64
	Values   []Value
}

// Value is one figure of the run.
type Value struct {
	Name   string // after the program's prefix, e.g. "rows_read"
	Help   string
	Labels map[string]string // the same label names for every Value of a Name
	Value  float64
}

// Write writes r to path atomically. The last success time of an earlier
// file is kept when this run did not succeed, so that an alert on "no
// success for a day" keeps working through failed runs.
func Write(path string, r Run) error {
	prefix := "tokenevents_" + r.Program + "_"
	end := float64(r.End.UnixMicro()) / 1e6
	last := end
	if !r.Success {
		last = previousValue(path, prefix+"last_success_timestamp_seconds")
	}
	values := []Value{
		{Name: "last_run_timestamp_seconds", Help: "When the last run ended (Unix time).", Value: end},
		{Name: "duration_seconds", Help: "How long the last run took.", Value: r.Seconds},
	}
	if last > 0 {
		values = append(values, Value{Name: "last_success_timestamp_seconds", Help: "When the last successful run ended (Unix time).", Value: last})
	}
	for _, o := range r.Outcomes {
		v := 0.0
		if o == r.Outcome {
			v = 1
		}
		values = append(values, Value{Name: "outcome", Help: "1 for the outcome of the last run, 0 for the others.",
			Labels: map[string]string{"outcome": o}, Value: v})
	}
	reg := prometheus.NewRegistry()
	if err := register(reg, prefix, append(values, r.Values...)); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if err := prometheus.WriteToTextfile(path, reg); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	return nil
}

// register adds one gauge (vector) per name.
func register(reg *prometheus.Registry, prefix string, values []Value) error {
	byName := map[string]*prometheus.GaugeVec{}
	for _, v := range values {
		vec := byName[v.Name]
		if vec == nil {
			names := make([]string, 0, len(v.Labels))
			for k := range v.Labels {
				names = append(names, k)
			}
			sort.Strings(names)
			vec = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: prefix + v.Name, Help: v.Help}, names)
			if err := reg.Register(vec); err != nil {
				return fmt.Errorf("%s: %w", v.Name, err)
			}
			byName[v.Name] = vec
		}
		g, err := vec.GetMetricWith(v.Labels)
		if err != nil {
			return fmt.Errorf("%s: %w", v.Name, err)
		}
		g.Set(v.Value)
	}
	return nil
}

// previousValue reads an unlabelled gauge from an existing metrics file;
// 0 when there is none, or the file cannot be read or parsed: it is about
// to be replaced, and the write reports a path that does not work.
func previousValue(path, name string) float64 {
	g, err := ReadGauges(path)
	if err != nil {
		return 0
	}
	return g[name]
}

// ReadGauges reads a metrics file as the textfile collector would (the
// Prometheus text parser) into gauge values keyed by name and labels in
// the file's order, `name{label=value}…`.
func ReadGauges(path string) (map[string]float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			key := name
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out, nil
}
