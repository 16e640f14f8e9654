package output

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestTableAlignsIgnoringColours(t *testing.T) {
	c := Colors{Enabled: true}
	tb := NewTable("NAME", "PHASE", "READY")
	tb.Row("web", c.Phase("Running"), "2/2")
	tb.Row("a-long-name", c.Phase("Failed"), "0/1")
	var b bytes.Buffer
	if err := tb.Write(&b); err != nil {
		t.Fatal(err)
	}
	plain := stripANSI(b.String())
	want := "NAME          PHASE     READY\n" +
		"web           Running   2/2\n" +
		"a-long-name   Failed    0/1\n"
	if plain != want {
		t.Fatalf("table\n got:\n%s\nwant:\n%s", plain, want)
	}
	if !strings.Contains(b.String(), "\x1b[32mRunning\x1b[0m") || !strings.Contains(b.String(), "\x1b[31mFailed\x1b[0m") {
		t.Fatalf("colours missing: %q", b.String())
	}
}

func TestNoColoursWhenDisabled(t *testing.T) {
	c := Colors{}
	for _, s := range []string{c.Phase("Running"), c.Phase("Failed"), c.Red("x"), c.Bold("y"), c.Phase("Deploying")} {
		if strings.Contains(s, "\x1b") {
			t.Fatalf("colour escape in %q", s)
		}
	}
}

func TestFormatRowPadsAndTrims(t *testing.T) {
	if got := FormatRow([]int{4, 3, 5}, []string{"a", "bb", ""}); got != "a      bb" {
		t.Fatalf("row %q", got)
	}
	if VisibleWidth("\x1b[31mé😀\x1b[0m") != 2 {
		t.Fatal("visible width counts runes without escapes")
	}
	if Truncate("abcdef", 4) != "abc…" || Truncate("abc", 4) != "abc" {
		t.Fatal("truncate")
	}
}

func TestAge(t *testing.T) {
	now := time.Date(2025, 1, 10, 12, 0, 0, 0, time.UTC)
	cases := map[time.Duration]string{
		-time.Second:                  "0s",
		0:                             "0s",
		42 * time.Second:              "42s",
		3*time.Minute + 5*time.Second: "3m5s",
		5 * time.Minute:               "5m",
		45 * time.Minute:              "45m",
		2*time.Hour + 30*time.Minute:  "2h30m",
		20 * time.Hour:                "20h",
		3 * 24 * time.Hour:            "3d",
		800 * 24 * time.Hour:          "2y",
	}
	for d, want := range cases {
		if got := Age(now.Add(-d), now); got != want {
			t.Errorf("Age(%s) = %q, want %q", d, got, want)
		}
	}
	if Age(time.Time{}, now) != "<unknown>" {
		t.Error("zero time")
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"": FormatTable, "table": FormatTable, "JSON": FormatJSON, "yaml": FormatYAML, "yml": FormatYAML} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil || err.Error() != `unknown output format "xml": use table, json or yaml` {
		t.Fatalf("xml: %v", err)
	}
}

func TestWriteJSONAndYAML(t *testing.T) {
	v := struct {
		Name     string            `json:"name"`
		Replicas int64             `json:"replicas"`
		Ratio    float64           `json:"ratio"`
		Env      map[string]string `json:"env"`
		Note     string            `json:"note,omitempty"`
	}{Name: "web", Replicas: 3, Ratio: 0.5, Env: map[string]string{"A": "<b>"}}
	var b bytes.Buffer
	if err := Write(&b, FormatJSON, v); err != nil {
		t.Fatal(err)
	}
	if b.String() != "{\n  \"name\": \"web\",\n  \"replicas\": 3,\n  \"ratio\": 0.5,\n  \"env\": {\n    \"A\": \"<b>\"\n  }\n}\n" {
		t.Fatalf("json %q", b.String())
	}
	b.Reset()
	if err := Write(&b, FormatYAML, v); err != nil {
		t.Fatal(err)
	}
	if b.String() != "env:\n  A: <b>\nname: web\nratio: 0.5\nreplicas: 3\n" {
		t.Fatalf("yaml %q", b.String())
	}
	b.Reset()
	if err := WriteLine(&b, v); err != nil || strings.Count(b.String(), "\n") != 1 {
		t.Fatalf("json line %q %v", b.String(), err)
	}
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
