package report

import (
	"math"
	"strconv"
)

// chart is an SVG bar chart, laid out here and drawn by the template:
// stacked bars (a value per series per slot, one on top of the other) or
// grouped ones (side by side). All coordinates are in the SVG's own units.
type chart struct {
	ID             string
	Title          string
	XTitle, YTitle string
	Width, Height  float64
	Plot           box
	YTicks, XTicks []tick
	Bars           []bar
	Legend         []legendItem
	// Empty says the chart has no value above zero.
	Empty bool
}

type box struct{ X, Y, W, H float64 }

// Right and Bottom are the plot's far edges, for the axes.
func (b box) Right() float64  { return b.X + b.W }
func (b box) Bottom() float64 { return b.Y + b.H }

type tick struct {
	Pos   float64
	Label string
}

type bar struct {
	X, Y, W, H float64
	Class      string
	// Title is the bar's tooltip: what it counts, exactly.
	Title text
}

type legendItem struct {
	Class string
	Label text
}

// series is one kind of value across the chart's slots.
type series struct {
	Label text
	Class string
	// Values has a value per slot.
	Values []float64
}

// Chart geometry: a fixed view box the page scales to its width.
const (
	chartWidth  = 960
	chartHeight = 300
	marginLeft  = 64
	marginRight = 16
	marginTop   = 12
	marginBot   = 52
	// charWidth is an upper bound on a tick label character's width at
	// the page's 12-unit font, to space the labels so they cannot overlap.
	charWidth = 7.5
)

// newChart lays out a chart's frame: a slot per label of slots, and a
// value axis up to at least top, whose maximum it returns.
func newChart(id, title, xTitle, yTitle string, slots []string, top float64, integer bool) (chart, float64) {
	c := chart{ID: id, Title: title, XTitle: xTitle, YTitle: yTitle, Width: chartWidth, Height: chartHeight,
		Plot: box{X: marginLeft, Y: marginTop, W: chartWidth - marginLeft - marginRight, H: chartHeight - marginTop - marginBot}}
	axisMax, step := niceScale(top, integer)
	for v := 0.0; v <= axisMax+step/2; v += step {
		c.YTicks = append(c.YTicks, tick{Pos: c.Plot.Bottom() - v/axisMax*c.Plot.H, Label: formatTick(v, step)})
	}
	if n := len(slots); n > 0 {
		slot := c.Plot.W / float64(n)
		longest := 0
		for _, s := range slots {
			longest = max(longest, len([]rune(s)))
		}
		every := max(int(math.Ceil((float64(longest)*charWidth+10)/slot)), 1)
		for i := 0; i < n; i += every {
			c.XTicks = append(c.XTicks, tick{Pos: c.Plot.X + (float64(i)+0.5)*slot, Label: slots[i]})
		}
	}
	return c, axisMax
}

// stacked is a chart of series stacked per slot; titles[i] names slot i
// in the bars' tooltips.
func stacked(id, title, xTitle, yTitle string, slots, titles []string, ss []series, unit string) chart {
	top := 0.0
	for i := range slots {
		sum := 0.0
		for _, s := range ss {
			sum += s.Values[i]
		}
		top = math.Max(top, sum)
	}
	c, axisMax := newChart(id, title, xTitle, yTitle, slots, top, true)
	c.Empty = top == 0
	slot := c.Plot.W / float64(max(len(slots), 1))
	w := math.Max(slot*0.8, 1)
	for i := range slots {
		y := c.Plot.Bottom()
		for _, s := range ss {
			v := s.Values[i]
			if v <= 0 {
				continue
			}
			h := v / axisMax * c.Plot.H
			y -= h
			c.Bars = append(c.Bars, bar{X: c.Plot.X + float64(i)*slot + (slot-w)/2, Y: y, W: w, H: h, Class: s.Class,
				Title: text(string(s.Label) + " · " + titles[i] + ": " + formatValue(v) + " " + unit)})
		}
	}
	for _, s := range ss {
		c.Legend = append(c.Legend, legendItem{Class: s.Class, Label: s.Label})
	}
	return c
}

// grouped is a chart of series side by side per slot.
func grouped(id, title, xTitle, yTitle string, slots, titles []string, ss []series, unit string) chart {
	top := 0.0
	for _, s := range ss {
		for _, v := range s.Values {
			top = math.Max(top, v)
		}
	}
	c, axisMax := newChart(id, title, xTitle, yTitle, slots, top, false)
	c.Empty = top == 0
	slot := c.Plot.W / float64(max(len(slots), 1))
	w := math.Max(slot*0.8/float64(max(len(ss), 1)), 1)
	for i := range slots {
		for k, s := range ss {
			v := s.Values[i]
			if v <= 0 {
				continue
			}
			h := v / axisMax * c.Plot.H
			c.Bars = append(c.Bars, bar{X: c.Plot.X + float64(i)*slot + slot*0.1 + float64(k)*w, Y: c.Plot.Bottom() - h, W: w, H: h,
				Class: s.Class, Title: text(string(s.Label) + " · " + titles[i] + ": " + formatValue(v) + " " + unit)})
		}
	}
	for _, s := range ss {
		c.Legend = append(c.Legend, legendItem{Class: s.Class, Label: s.Label})
	}
	return c
}

// niceScale returns the axis maximum and the tick step for values up to
// top: a step of 1, 2 or 5 times a power of ten, about five ticks.
func niceScale(top float64, integer bool) (axisMax, step float64) {
	if top <= 0 {
		return 1, 1
	}
	raw := top / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	if integer && step < 1 {
		step = 1
	}
	return math.Ceil(top/step-1e-9) * step, step
}

func formatTick(v, step float64) string {
	decimals := 0
	if step < 1 {
		decimals = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	if decimals == 0 {
		return groupDigits(int(math.Round(v)))
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

func formatValue(v float64) string {
	if v == math.Trunc(v) {
		return groupDigits(int(v))
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// inlineBar is a row's bar in a table: segments side by side, scaled so
// that the longest row fills inlineWidth.
type inlineBar struct {
	Segments []bar
}

const inlineWidth = 160

func newInlineBar(values []int, classes []string, labels []string, top int) inlineBar {
	var b inlineBar
	if top <= 0 {
		return b
	}
	x := 0.0
	for i, v := range values {
		if v <= 0 {
			continue
		}
		// At least a pixel and a half, so that a count of one shows.
		w := math.Max(float64(v)/float64(top)*inlineWidth, 1.5)
		b.Segments = append(b.Segments, bar{X: x, W: w, H: 14, Class: classes[i], Title: text(labels[i] + ": " + groupDigits(v))})
		x += w
	}
	return b
}
