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
