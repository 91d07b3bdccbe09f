package face

import (
	"math"
	"testing"
)

// TestAlignmentRecoversSimilarity places a template's points in a frame
// through a known rotation, scale and shift: the fitted warp must map
// every template point onto its frame point.
func TestAlignmentRecoversSimilarity(t *testing.T) {
	arcface := &Descriptor{
		Template: map[string][2]float32{"left_eye": {38.29, 51.70}, "right_eye": {73.53, 51.50}, "nose": {56.03, 71.74},
			"left_mouth": {41.55, 92.37}, "right_mouth": {70.73, 92.20}},
		TemplateBox: [4]float32{16, 16, 96, 112},
	}
	th, s := 0.4, 2.5
	a, b := float32(s*math.Cos(th)), float32(s*math.Sin(th))
	place := func(p [2]float32) [2]float32 {
		return [2]float32{a*p[0] - b*p[1] + 300, b*p[0] + a*p[1] + 120}
	}
	// A five-point detector (SCRFD-like names); points in edge coordinates.
	names := []string{"left_eye", "right_eye", "nose", "left_mouth", "right_mouth"}
	det := detection{}
	for _, n := range names {
		p := place(arcface.Template[n])
		det.Points = append(det.Points, [2]float32{p[0] + 0.5, p[1] + 0.5})
	}
	m := alignment(det, names, arcface)
	for _, n := range names {
		want := place(arcface.Template[n])
		x, y := m.apply(arcface.Template[n][0], arcface.Template[n][1])
		if math.Abs(float64(x-want[0])) > 1e-3 || math.Abs(float64(y-want[1])) > 1e-3 {
			t.Errorf("%s: mapped to (%.3f,%.3f), want (%.3f,%.3f)", n, x, y, want[0], want[1])
		}
	}
	if got := m.scale(); math.Abs(float64(got)-s) > 1e-4 {
		t.Errorf("scale %.4f, want %.4f", got, s)
	}
	// BlazeFace names (a mouth centre, no corners) against the corner
	// template: the mouth centre is derived, the fit stays exact.
	bf := []string{"left_eye", "right_eye", "nose", "mouth"}
	mouth := [2]float32{(41.55 + 70.73) / 2, (92.37 + 92.20) / 2}
	det2 := detection{}
	for _, n := range bf[:3] {
		p := place(arcface.Template[n])
		det2.Points = append(det2.Points, [2]float32{p[0] + 0.5, p[1] + 0.5})
	}
	pm := place(mouth)
	det2.Points = append(det2.Points, [2]float32{pm[0] + 0.5, pm[1] + 0.5})
	m2 := alignment(det2, bf, arcface)
	if x, y := m2.apply(mouth[0], mouth[1]); math.Abs(float64(x-pm[0])) > 1e-3 || math.Abs(float64(y-pm[1])) > 1e-3 {
		t.Errorf("mouth centre mapped to (%.3f,%.3f), want (%.3f,%.3f)", x, y, pm[0], pm[1])
	}
	// No shared keypoints: the box is used.
	det3 := detection{X0: 100.5, Y0: 50.5, X1: 260.5, Y1: 242.5}
	m3 := alignment(det3, nil, arcface)
	if x, y := m3.apply(16, 16); math.Abs(float64(x-100)) > 1e-3 || math.Abs(float64(y-50)) > 1e-3 {
		t.Errorf("box corner mapped to (%.3f,%.3f), want (100,50)", x, y)
	}
}
