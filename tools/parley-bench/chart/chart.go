// Package chart draws small line charts as standalone SVG documents: a
// title, axes with ticks, labels and units, a legend, horizontal reference
// lines (a budget) and, optionally, a second y axis on the right. An axis is
// linear or log10. The output depends only on the input, so a chart
// regenerated from the same numbers does not change.
package chart

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Axis is one axis of a chart.
type Axis struct {
	Label string // with its unit: "offered rate (msg/s)"
	Log   bool   // log10 scale; values ≤ 0 are not drawn
	// Min and Max bound the axis; both zero: from the data and the
	// reference lines, rounded out to ticks (a linear axis starts at 0).
	Min, Max float64
}

// Series is one line of points, drawn in the order given.
type Series struct {
	Name  string
	X, Y  []float64
	Color string // any SVG colour; defaults to the palette
	Dash  bool   // a dashed line
	// Points draws markers without a line: for points that are categories
	// (deployments, say), not a trend.
	Points bool
	Right  bool // plotted against the right axis (Chart.Y2)
	// Open marks points drawn hollow (same length as X, or nil): for
	// example measurements that say more about the generator than about
	// what was measured.
	Open []bool
}

// Line is a horizontal reference line across the plot.
type Line struct {
	Y     float64
	Label string
	Color string // defaults to dark red
	Right bool   // against the right axis
}

// Chart is one chart.
type Chart struct {
	Title         string
	Width, Height int // pixels; 0: 760 × 420
	X, Y          Axis
	Y2            *Axis // the right axis, for series with Right set
	Series        []Series
	Lines         []Line
	Notes         []string // small lines under the plot
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"}

// scale maps data values on one axis to pixels.
type scale struct {
	lo, hi float64 // data range (log10 of it for a log axis)
	p0, p1 float64 // pixel range
	log    bool
	ticks  []float64
}

func (s scale) pos(v float64) float64 {
	if s.log {
		v = math.Log10(v)
	}
	if s.hi == s.lo {
		return (s.p0 + s.p1) / 2
	}
	return s.p0 + (v-s.lo)/(s.hi-s.lo)*(s.p1-s.p0)
}

// newScale fits an axis around the values vs.
func newScale(a Axis, vs []float64, p0, p1 float64) (scale, error) {
	lo, hi := a.Min, a.Max
	if lo == 0 && hi == 0 {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, v := range vs {
			if math.IsNaN(v) || math.IsInf(v, 0) || (a.Log && v <= 0) {
				continue
			}
			lo, hi = min(lo, v), max(hi, v)
		}
		if math.IsInf(lo, 1) {
			return scale{}, errors.New("chart: an axis has no values to draw")
		}
		if !a.Log {
			lo = min(lo, 0)
		}
	}
	s := scale{p0: p0, p1: p1, log: a.Log}
	if a.Log {
		if lo <= 0 {
			return scale{}, errors.New("chart: a log axis needs positive bounds")
		}
		s.lo, s.hi = math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
		if s.hi == s.lo {
			s.hi++
		}
		s.ticks = LogTicks(math.Pow(10, s.lo), math.Pow(10, s.hi))
		return s, nil
	}
	s.ticks = LinearTicks(lo, hi, 6)
	s.lo, s.hi = s.ticks[0], s.ticks[len(s.ticks)-1]
	return s, nil
}

// LinearTicks returns evenly spaced round ticks (steps of 1, 2, 2.5 or 5
// times a power of ten) covering [lo, hi], about n of them.
func LinearTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(max(1, n-1))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step+1e-9) * step
	var out []float64
	for v := start; v < hi+step-1e-9*step; v += step {
		out = append(out, clean(v, step))
	}
	return out
}

// LogTicks returns the powers of ten from lo to hi (both powers of ten), and
// 2× and 5× between them when they span at most two decades.
func LogTicks(lo, hi float64) []float64 {
	a, b := int(math.Round(math.Log10(lo))), int(math.Round(math.Log10(hi)))
	var out []float64
	for e := a; e <= b; e++ {
		p := math.Pow(10, float64(e))
		out = append(out, clean(p, p))
		if b-a <= 2 && e < b {
			out = append(out, clean(2*p, p), clean(5*p, p))
		}
	}
	return out
}

// clean removes floating-point dust from v, a multiple of about step.
func clean(v, step float64) float64 {
	d := max(0, -int(math.Floor(math.Log10(step)))+1)
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', d, 64), 64)
	return r
}

// FormatTick writes a tick value: thousands separated, no needless
// decimals.
func FormatTick(v float64) string {
	if v == 0 {
		return "0"
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if strings.Contains(s, "e") {
		s = strconv.FormatFloat(v, 'g', 3, 64)
	}
	return Grouped(s)
}

// Grouped puts thousands separators into a formatted decimal number:
// "-12345.5" → "-12,345.5".
func Grouped(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range ip {
		if i > 0 && (len(ip)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if hasFrac {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

func esc(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// SVG renders the chart.
func (c *Chart) SVG() ([]byte, error) {
	w, h := c.Width, c.Height
	if w == 0 {
		w = 760
	}
	if h == 0 {
		h = 420
	}
	if len(c.Series) == 0 {
		return nil, errors.New("chart: no series")
	}
	left, right, top := 72.0, 24.0, 64.0
	if c.Y2 != nil {
		right = 76
	}
	var notes []string
	for _, n := range c.Notes {
		notes = append(notes, wrap(n, (w-24)/6)...)
	}
	bottom := 56.0 + 15*float64(len(notes))
	px0, px1 := left, float64(w)-right
	py0, py1 := float64(h)-bottom, top // y grows downwards

	var xs, ys, y2s []float64
	for _, s := range c.Series {
		if len(s.X) != len(s.Y) || (s.Open != nil && len(s.Open) != len(s.X)) {
			return nil, fmt.Errorf("chart: series %q: X, Y and Open differ in length", s.Name)
		}
		if s.Right && c.Y2 == nil {
			return nil, fmt.Errorf("chart: series %q is on the right axis, which the chart lacks", s.Name)
		}
		xs = append(xs, s.X...)
		if s.Right {
			y2s = append(y2s, s.Y...)
		} else {
			ys = append(ys, s.Y...)
		}
	}
	for _, l := range c.Lines {
		if l.Right {
			y2s = append(y2s, l.Y)
		} else {
			ys = append(ys, l.Y)
		}
	}
	sx, err := newScale(c.X, xs, px0, px1)
	if err != nil {
		return nil, err
	}
	sy, err := newScale(c.Y, ys, py0, py1)
	if err != nil {
		return nil, err
	}
	var sy2 scale
	if c.Y2 != nil {
		if sy2, err = newScale(*c.Y2, y2s, py0, py1); err != nil {
			return nil, err
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", 12, esc(c.Title))

	// Grid and ticks.
	inX := func(v float64) bool { return !sx.log || v > 0 }
	for _, t := range sy.ticks {
		y := sy.pos(t)
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e5e5e5"/>`+"\n", f1(px0), f1(y), f1(px1), f1(y))
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end">%s</text>`+"\n", f1(px0-6), f1(y+4), FormatTick(t))
	}
	if c.Y2 != nil {
		for _, t := range sy2.ticks {
			y := sy2.pos(t)
			fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333"/>`+"\n", f1(px1), f1(y), f1(px1+4), f1(y))
			fmt.Fprintf(&b, `<text x="%s" y="%s">%s</text>`+"\n", f1(px1+7), f1(y+4), FormatTick(t))
		}
	}
	for _, t := range sx.ticks {
		if !inX(t) {
			continue
		}
		x := sx.pos(t)
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e5e5e5"/>`+"\n", f1(x), f1(py0), f1(x), f1(py1))
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", f1(x), f1(py0+16), FormatTick(t))
	}
	// Axes and their labels.
	fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333"/>`+"\n", f1(px0), f1(py0), f1(px1), f1(py0))
	fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333"/>`+"\n", f1(px0), f1(py0), f1(px0), f1(py1))
	fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", f1((px0+px1)/2), f1(py0+36), esc(c.X.Label))
	fmt.Fprintf(&b, `<text transform="translate(16 %s) rotate(-90)" text-anchor="middle">%s</text>`+"\n", f1((py0+py1)/2), esc(c.Y.Label))
	if c.Y2 != nil {
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333"/>`+"\n", f1(px1), f1(py0), f1(px1), f1(py1))
		fmt.Fprintf(&b, `<text transform="translate(%s %s) rotate(90)" text-anchor="middle">%s</text>`+"\n", f1(float64(w)-14), f1((py0+py1)/2), esc(c.Y2.Label))
	}

	// Reference lines.
	for _, l := range c.Lines {
		s := sy
		if l.Right {
			s = sy2
		}
		col := l.Color
		if col == "" {
			col = "#8b0000"
		}
		y := s.pos(l.Y)
		fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5" stroke-dasharray="6 4"/>`+"\n", f1(px0), f1(y), f1(px1), f1(y), col)
		fmt.Fprintf(&b, `<text x="%s" y="%s" fill="%s">%s</text>`+"\n", f1(px0+6), f1(y-5), col, esc(l.Label))
	}

	// Series.
	for i, s := range c.Series {
		col := s.Color
		if col == "" {
			col = palette[i%len(palette)]
		}
		ys := sy
		if s.Right {
			ys = sy2
		}
		type pt struct {
			x, y float64
			open bool
		}
		var pts []pt
		for j := range s.X {
			if math.IsNaN(s.X[j]) || math.IsNaN(s.Y[j]) || (sx.log && s.X[j] <= 0) || (ys.log && s.Y[j] <= 0) {
				continue
			}
			pts = append(pts, pt{sx.pos(s.X[j]), ys.pos(s.Y[j]), s.Open != nil && s.Open[j]})
		}
		if len(pts) > 1 && !s.Points {
			var d []string
			for _, p := range pts {
				d = append(d, f1(p.x)+","+f1(p.y))
			}
			dash := ""
			if s.Dash {
				dash = ` stroke-dasharray="5 3"`
			}
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(d, " "), col, dash)
		}
		for _, p := range pts {
			fill := col
			if p.open {
				fill = "white"
			}
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3.5" fill="%s" stroke="%s" stroke-width="1.5"/>`+"\n", f1(p.x), f1(p.y), fill, col)
		}
	}

	// Legend: one row under the title.
	x := 12.0
	for i, s := range c.Series {
		col := s.Color
		if col == "" {
			col = palette[i%len(palette)]
		}
		dash := ""
		if s.Dash {
			dash = ` stroke-dasharray="5 3"`
		}
		if !s.Points {
			fmt.Fprintf(&b, `<line x1="%s" y1="42" x2="%s" y2="42" stroke="%s" stroke-width="2"%s/>`+"\n", f1(x), f1(x+22), col, dash)
		}
		fmt.Fprintf(&b, `<circle cx="%s" cy="42" r="3.5" fill="%s"/>`+"\n", f1(x+11), col)
		fmt.Fprintf(&b, `<text x="%s" y="46">%s</text>`+"\n", f1(x+28), esc(s.Name))
		x += 28 + 7*float64(len([]rune(s.Name))) + 18
	}

	for i, n := range notes {
		fmt.Fprintf(&b, `<text x="12" y="%s" font-size="11" fill="#555">%s</text>`+"\n", f1(float64(h)-bottom+54+15*float64(i)), esc(n))
	}
	b.WriteString("</svg>\n")
	return []byte(b.String()), nil
}

// wrap breaks s into lines of at most width characters, at spaces.
func wrap(s string, width int) []string {
	var out []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len([]rune(line))+1+len([]rune(w)) > width {
			out = append(out, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}
