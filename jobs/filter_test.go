package jobs

import (
	"fmt"
	"testing"

	"github.com/celebrity-zones/cz/contracts"
)

func video(id string, views, likes, shares int64, secs float64) contracts.ContentMetadata {
	return contracts.ContentMetadata{ContentUUID: id, Views: views, Likes: likes, Shares: shares, DurationSeconds: secs, Language: "en", Tags: []string{"music"}}
}

func TestFilterRulesAndTiers(t *testing.T) {
	f := DefaultFilter()
	f.MinLikes = 2
	f.ExcludeTags = []string{"news"}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	news := video("e", 5000, 50, 5, 10)
	news.Tags = []string{"news"}
	cands, rej := f.Apply([]contracts.ContentMetadata{
		video("a", 50, 10, 1, 10),   // too few views
		video("b", 150, 10, 1, 10),  // over-100
		video("c", 5000, 90, 9, 10), // over-1000
		video("d", 150, 1, 0, 10),   // too few likes
		news,
	})
	got := ""
	for _, c := range cands {
		got += c.ContentUUID + ":" + c.Tier + " "
	}
	if got != "c:over-1000-views b:over-100-views " {
		t.Errorf("candidates = %q, want c in the top tier first, then b", got)
	}
	if len(rej) != 3 || rej[0].ContentUUID != "a" || rej[1].ContentUUID != "d" || rej[2].Reason != `tag "news" is excluded` {
		t.Errorf("rejections = %+v, want a (views), d (likes), e (tag)", rej)
	}
}

func TestParseFilterNamesTheField(t *testing.T) {
	if _, err := ParseFilter("f.json", []byte(`{"min_views": -1}`)); err == nil || err.Error() != "filter f.json: min_views is -1; expected a count >= 0" {
		t.Errorf("err = %v", err)
	}
	if _, err := ParseFilter("f.json", []byte(`{"min_veiws": 10}`)); err == nil {
		t.Error("a misspelt field was accepted")
	}
	f, err := ParseFilter("f.json", []byte(`{"min_views": 10, "tiers": [{"name":"low","min_views":10},{"name":"high","min_views":1000}]}`))
	if err != nil || f.Tiers[0].Name != "high" {
		t.Errorf("tiers = %+v (%v), want high first", f.Tiers, err)
	}
}

func TestBalanceSpreadsCost(t *testing.T) {
	var cands []Candidate
	for i, secs := range []float64{100, 90, 10, 10, 10, 10, 10, 10, 10, 10, 10} {
		cands = append(cands, Candidate{ContentMetadata: video(fmt.Sprintf("v%02d", i), 1000, 1, 1, secs)})
	}
	groups := Balance(cands, 3)
	if len(groups) != 3 {
		t.Fatalf("%d groups, want 3", len(groups))
	}
	total, seen := 0, map[string]bool{}
	var loads []float64
	for _, g := range groups {
		load := 0.0
		for _, c := range g {
			seen[c.ContentUUID] = true
			load += c.DurationSeconds + 1
		}
		total += len(g)
		loads = append(loads, load)
	}
	if total != len(cands) || len(seen) != len(cands) {
		t.Fatalf("groups hold %d videos (%d distinct), want each of %d once", total, len(seen), len(cands))
	}
	for _, l := range loads {
		if l > 101 {
			t.Errorf("loads %v: a group exceeds the longest video's cost, so the split is unbalanced", loads)
		}
	}
	if g := Balance(cands[:2], 8); len(g) != 2 {
		t.Errorf("2 videos in up to 8 groups gave %d groups, want 2 (no empty tasks)", len(g))
	}
}
