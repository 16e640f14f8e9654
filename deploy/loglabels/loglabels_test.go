package loglabels

import "testing"

func TestDockerMeta(t *testing.T) {
	for in, want := range map[string]string{
		"paas.app.id":                   "__meta_docker_container_label_paas_app_id",
		"com.docker.swarm.service.name": "__meta_docker_container_label_com_docker_swarm_service_name",
		"paas.spec-hash":                "__meta_docker_container_label_paas_spec_hash",
	} {
		if got := DockerMeta(in); got != want {
			t.Errorf("DockerMeta(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAppSelector(t *testing.T) {
	if got := AppSelector("4f1c2c6e-0000-4000-8000-000000000000"); got != `{app_id="4f1c2c6e-0000-4000-8000-000000000000"}` {
		t.Fatalf("AppSelector = %s", got)
	}
	if got := AppSelector(`x"}`); got != `{app_id="x\"}"}` {
		t.Fatalf("AppSelector does not escape: %s", got)
	}
}

func TestQuery(t *testing.T) {
	id := "4f1c2c6e-0000-4000-8000-000000000000"
	for _, tc := range []struct {
		f    Filter
		want string
	}{
		{Filter{}, `{app_id="4f1c2c6e-0000-4000-8000-000000000000"}`},
		{Filter{Stream: "stderr", Contains: `say "hi"`, Level: "warn"},
			`{app_id="4f1c2c6e-0000-4000-8000-000000000000", stream="stderr"} |= "say \"hi\"" |~ "(?i)\\b(warn|warning|error|err|fatal|panic|crit|critical)\\b"`},
		{Filter{Level: "debug"}, `{app_id="4f1c2c6e-0000-4000-8000-000000000000"}`},
	} {
		if got := Query(id, tc.f); got != tc.want {
			t.Errorf("Query(%+v) =\n%s\nwant\n%s", tc.f, got, tc.want)
		}
	}
	if Query(id, Filter{}) != AppSelector(id) {
		t.Fatal("an unfiltered query is the app's selector")
	}
	if _, ok := LevelPattern("loud"); ok {
		t.Fatal("unknown level accepted")
	}
}
