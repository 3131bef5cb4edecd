package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium finds a Chromium to drive: Debian's package installs
// /usr/bin/chromium.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	// A missing browser must not pass unnoticed in CI, which installs it
	// (.ci/run); elsewhere the test is skipped, saying why.
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed, and CI is set: the browser test must run (.ci/run installs Debian's chromium package)")
	}
	t.Skip("chromium is not installed (Debian: apt-get install chromium): the browser test is skipped; with CI set it fails instead")
	return ""
}

type drawn struct {
	X, Y, Width, Height float64
}

type drawnChart struct {
	ID     string
	Box    drawn
	Bars   []drawn
	Legend int
	// Fills are the bars' computed fill colours, distinct, sorted.
	Fills []string
}

// measure returns, for every chart of the page, the boxes the browser laid
// out: the SVG's and each bar's.
const measure = `(() => {
	const box = e => { const r = e.getBoundingClientRect(); return {X: r.x, Y: r.y, Width: r.width, Height: r.height}; };
	return [...document.querySelectorAll('svg.chart')].map(svg => {
		const bars = [...svg.querySelectorAll('rect.bar')];
		return {ID: svg.id, Box: box(svg), Bars: bars.map(box),
			Legend: svg.closest('figure') ? svg.closest('figure').querySelectorAll('.legend .sw').length : 0,
			Fills: [...new Set(bars.map(b => getComputedStyle(b).fill))].sort()};
	});
})()`

// inlineBars counts the bars of the tables that the browser drew with a
// width and a height.
const inlineBars = `[...document.querySelectorAll('svg.hbar rect.bar')].filter(b => {
	const r = b.getBoundingClientRect(); return r.width > 0 && r.height > 0; }).length`

// TestBrowserDrawsCharts renders the page in headless Chromium and checks,
// through the DevTools protocol, that every chart is drawn: each bar laid
// out with a size inside its chart, coloured by the page's style sheet
// (which the page's Content-Security-Policy must let through), a legend
// entry per series; that the chart's pixels are not blank; and that the
// page fetched nothing and logged no error (a CSP violation is one).
func TestBrowserDrawsCharts(t *testing.T) {
	exe := chromium(t)
	recs, ver, err := Load(fixtureFiles(t, t.TempDir()), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep := Build(recs, ver, Options{})
	var page bytes.Buffer
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, page.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "file://" + path

	// The deadline bounds the browser's whole life: it stops with it.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	ctx, cancel = chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1200, 1000))...)
	defer cancel()
	ctx, cancel = chromedp.NewContext(ctx)
	defer cancel()

	var mu sync.Mutex
	var requests, problems []string
	err = chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, e.Request.URL)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
				problems = append(problems, string(e.Entry.Source)+": "+e.Entry.Text)
			}
		case *runtime.EventConsoleAPICalled:
			problems = append(problems, "console."+string(e.Type)+" called: the page runs a script")
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		}
	})
	if err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("calls-by-caller"))); err != nil {
		t.Fatal(err)
	}
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[[]drawnChart](measure))
	if err != nil {
		t.Fatal(err)
	}
	hbars, err := chromedp.Run(ctx, chromedp.Evaluate[int](inlineBars))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.ID("calls-by-caller")))
	if err != nil {
		t.Fatal(err)
	}

	p := &rep.p
	want := map[string]chart{p.ByCaller.ID: p.ByCaller, p.ByDecision.ID: p.ByDecision, p.LatencyChart.ID: p.LatencyChart}
	if len(charts) != len(want) {
		t.Errorf("%d charts drawn; want %d", len(charts), len(want))
	}
	for _, c := range charts {
		w, ok := want[c.ID]
		if !ok {
			t.Errorf("chart %q drawn; want none of that id", c.ID)
			continue
		}
		if c.Box.Width < 300 || c.Box.Height < 100 {
			t.Errorf("chart %s drawn %.0f×%.0f; want a readable size", c.ID, c.Box.Width, c.Box.Height)
		}
		if len(c.Bars) != len(w.Bars) || len(c.Bars) == 0 {
			t.Errorf("chart %s: %d bars drawn; want %d", c.ID, len(c.Bars), len(w.Bars))
		}
		for i, b := range c.Bars {
			const slack = 0.5
			if b.Width <= 0 || b.Height <= 0 || b.X < c.Box.X-slack || b.Y < c.Box.Y-slack ||
				b.X+b.Width > c.Box.X+c.Box.Width+slack || b.Y+b.Height > c.Box.Y+c.Box.Height+slack {
				t.Errorf("chart %s: bar %d drawn at %+v; want a size, inside the chart at %+v", c.ID, i, b, c.Box)
			}
		}
		if c.Legend != len(w.Legend) {
			t.Errorf("chart %s: %d legend entries; want %d", c.ID, c.Legend, len(w.Legend))
		}
		classes := map[string]bool{}
		for _, b := range w.Bars {
			classes[b.Class] = true
		}
		if len(c.Fills) != len(classes) {
			t.Errorf("chart %s: bars filled with %q; want %d colours, one per series shown", c.ID, c.Fills, len(classes))
		}
		for _, f := range c.Fills {
			if f == "rgb(0, 0, 0)" || f == "none" {
				t.Errorf("chart %s: a bar filled %q: the page's style sheet was not applied", c.ID, f)
			}
		}
	}
	if hbars == 0 {
		t.Error("no table bar drawn")
	}
	checkPixels(t, shot)

	mu.Lock()
	defer mu.Unlock()
	for _, r := range requests {
		if r != url {
			t.Errorf("the page requested %s: it must load nothing", r)
		}
	}
	for _, p := range problems {
		t.Errorf("browser: %s", p)
	}
}

// checkPixels checks a screenshot of the calls-by-caller chart is not
// blank: a share of its pixels are the first caller's colour (.s0,
// #4e79a7), and many are neither white nor grey.
func checkPixels(t *testing.T, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	b := img.Bounds()
	if b.Dx() < 300 || b.Dy() < 100 {
		t.Fatalf("screenshot %v: the chart is not drawn at a readable size", b)
	}
	var series, coloured int
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl := rgb(img, x, y)
			if near(r, 0x4e) && near(g, 0x79) && near(bl, 0xa7) {
				series++
			}
			if max(r, g, bl)-min(r, g, bl) > 40 {
				coloured++
			}
		}
	}
	total := b.Dx() * b.Dy()
	if series < total/200 || coloured < total/50 {
		t.Errorf("screenshot %v: %d pixels of the first series' colour, %d coloured of %d: the chart looks blank", b, series, coloured, total)
	}
}

func rgb(img image.Image, x, y int) (int, int, int) {
	r, g, b, _ := img.At(x, y).RGBA()
	return int(r >> 8), int(g >> 8), int(b >> 8)
}

func near(a, b int) bool { return a-b <= 6 && b-a <= 6 }
