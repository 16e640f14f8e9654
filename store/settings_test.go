package store_test

import (
	"context"
	"testing"

	"github.com/skypanel/paas/store"
)

// TestReadSettingsMatchesOneByOne: settings read in one query answer what
// IntSetting and StringSetting answer key by key, for set, unset, blank,
// negative and malformed values.
func TestReadSettingsMatchesOneByOne(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	values := map[string]string{"t_int": " 42 ", "t_neg": "-3", "t_bad": "4x", "t_blank": "  ", "t_text": "  hello "}
	for k, v := range values {
		if err := f.s.PutSetting(ctx, store.PutSettingParams{Key: k, Value: &v}); err != nil {
			t.Fatal(err)
		}
	}
	keys := []string{"t_int", "t_neg", "t_bad", "t_blank", "t_text", "t_unset"}
	all, err := store.ReadSettings(ctx, f.s, keys...)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(values) {
		t.Fatalf("read %d settings, want the %d that are set", len(all), len(values))
	}
	for _, k := range keys {
		wantInt, err := store.IntSetting(ctx, f.s, k, 7)
		if err != nil {
			t.Fatal(err)
		}
		wantStr, err := store.StringSetting(ctx, f.s, k)
		if err != nil {
			t.Fatal(err)
		}
		if got := all.Int(k, 7); got != wantInt {
			t.Errorf("Int(%q) = %d, IntSetting says %d", k, got, wantInt)
		}
		if got := all.String(k); got != wantStr {
			t.Errorf("String(%q) = %q, StringSetting says %q", k, got, wantStr)
		}
	}
	if all.Int("t_int", 7) != 42 || all.Int("t_bad", 7) != 7 || all.String("t_text") != "hello" || all.String("t_unset") != "" {
		t.Fatalf("values: int %d bad %d text %q unset %q", all.Int("t_int", 7), all.Int("t_bad", 7), all.String("t_text"), all.String("t_unset"))
	}
}
