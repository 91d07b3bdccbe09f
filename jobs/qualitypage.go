package jobs

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/celebrity-zones/cz/engine/web"
	"github.com/celebrity-zones/cz/store"
)

// QualityPage is the status page's view of the QC team's verdicts: the
// key metrics (as the last quality job stored them) as a table and the
// precision of each run as a plot.
func QualityPage(internal store.Bucket) web.Page {
	return web.Page{Name: "quality", Path: "/quality", Body: func(r *http.Request) (template.HTML, error) {
		rep, err := LoadQuality(r.Context(), internal)
		if errors.Is(err, store.ErrNotExist) {
			return "<h2>Validation quality</h2><p>No metrics yet: run <code>cz quality</code> once the QC team's validated data is in.</p>", nil
		}
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := qualityTmpl.Execute(&buf, qualityView{rep, trendPlot(rep.Runs)}); err != nil {
			return "", err
		}
		return template.HTML(buf.String()), nil
	}}
}

type qualityView struct {
	*QualityReport
	Plot template.HTML
}

var qualityTmpl = template.Must(template.New("quality").Funcs(template.FuncMap{
	"pct": func(c Counts) string {
		if c.Correct+c.Incorrect == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", 100*c.Precision)
	},
	"day": func(t time.Time) string { return t.Format("2006-01-02") },
}).Parse(`<h2>Validation quality</h2>
<p>From the QC team's validated data · computed {{.GeneratedAt.Format "2006-01-02 15:04 MST"}}</p>
{{if .Problems}}<p class="error">{{range .Problems}}{{.}}
{{end}}</p>{{end}}
<table id="overall"><tr><th></th><th>correct</th><th>incorrect</th><th>unsure</th><th>precision</th></tr>
<tr><td>overall</td><td class="num">{{.Overall.Correct}}</td><td class="num">{{.Overall.Incorrect}}</td><td class="num">{{.Overall.Unsure}}</td><td class="num">{{pct .Overall}}</td></tr></table>
<h3>Precision by run</h3>
{{.Plot}}
<table id="runs"><tr><th>day</th><th>runner</th><th>run</th><th>correct</th><th>incorrect</th><th>unsure</th><th>precision</th></tr>
{{range .Runs}}<tr><td>{{day .Day}}</td><td>{{.Runner}}</td><td>{{.Run}}</td><td class="num">{{.Correct}}</td><td class="num">{{.Incorrect}}</td><td class="num">{{.Unsure}}</td><td class="num">{{pct .Counts}}</td></tr>
{{end}}</table>
<h3>Precision by zone</h3>
<table id="zones"><tr><th>zone</th><th>id</th><th>correct</th><th>incorrect</th><th>unsure</th><th>precision</th></tr>
{{range .Zones}}<tr><td>{{.ZoneName}}</td><td><code>{{.ZoneID}}</code></td><td class="num">{{.Correct}}</td><td class="num">{{.Incorrect}}</td><td class="num">{{.Unsure}}</td><td class="num">{{pct .Counts}}</td></tr>
{{end}}</table>`))

// trendPlot draws precision per run over time as an SVG line; runs with
// no judged verdict have no precision and no point.
func trendPlot(all []RunQuality) template.HTML {
	const w, h, pad = 600, 180, 30
	var runs []RunQuality
	for _, r := range all {
		if r.Correct+r.Incorrect > 0 {
			runs = append(runs, r)
		}
	}
	if len(runs) == 0 {
		return "<p>No validated data yet.</p>"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg class="trend" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="precision by run">`, w, h, w, h)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#aab"/>`, pad, h-pad, w-pad, h-pad)
	fmt.Fprintf(&b, `<text x="2" y="%d" font-size="11">100%%</text><text x="8" y="%d" font-size="11">0%%</text>`, pad, h-pad)
	x := func(i int) int {
		if len(runs) == 1 {
			return w / 2
		}
		return pad + i*(w-2*pad)/(len(runs)-1)
	}
	y := func(p float64) int { return h - pad - int(p*float64(h-2*pad)) }
	b.WriteString(`<polyline fill="none" stroke="#2f6fdf" stroke-width="2" points="`)
	for i, r := range runs {
		fmt.Fprintf(&b, "%d,%d ", x(i), y(r.Precision))
	}
	b.WriteString(`"/>`)
	for i, r := range runs {
		fmt.Fprintf(&b, `<circle class="point" cx="%d" cy="%d" r="3" fill="#2f6fdf"><title>%s %s: %.1f%%</title></circle>`,
			x(i), y(r.Precision), template.HTMLEscapeString(r.Runner), template.HTMLEscapeString(r.Run), 100*r.Precision)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
