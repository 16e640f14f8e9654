package v1

import (
	"context"
	"fmt"
	"maps"
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/skypanel/paas/api/openapi"
	"github.com/skypanel/paas/api/problem"
	"github.com/skypanel/paas/store"
	"github.com/skypanel/paas/store/secret"
)

// GetEnv answers the app's variables, in clear to those who may write them.
func (s *server) GetEnv(c echo.Context, ident openapi.AppPath, _ openapi.GetEnvParams) error {
	env, err := s.readEnv(c, ident)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, envAnswer(org(c).Role, env))
}

func (s *server) readEnv(c echo.Context, ident string) (map[string]string, error) {
	app, err := s.findApp(c, ident)
	if err != nil {
		return nil, err
	}
	vars, err := s.Store.ListEnvVars(c.Request().Context(), app.ID)
	if err != nil {
		return nil, err
	}
	env := make(map[string]string, len(vars))
	for _, v := range vars {
		clear, err := s.Box.Open(v.ValueEncrypted, secret.EnvAD(app.ID, v.Key))
		if err != nil {
			return nil, fmt.Errorf("open env %s of app %s: %w", v.Key, app.ID, err)
		}
		env[v.Key] = string(clear)
	}
	return env, nil
}

type envRequest struct {
	Env map[string]*string `json:"env"`
}

// PutEnv replaces every variable of the app.
func (s *server) PutEnv(c echo.Context, ident openapi.AppPath, _ openapi.PutEnvParams) error {
	var req envRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if req.Env == nil {
		return problem.Invalid(fe("env", "is required (an empty object removes every variable)"))
	}
	env := make(map[string]string, len(req.Env))
	var errs []problem.FieldError
	for _, k := range sortedKeys(req.Env) {
		if req.Env[k] == nil {
			errs = append(errs, fe("env."+k, "must be a string"))
			continue
		}
		env[k] = *req.Env[k]
	}
	errs = append(errs, checkEnv("env.", env)...)
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	return s.writeEnvAnswer(c, ident, "env.put", func(map[string]string) (map[string]string, error) { return env, nil })
}

// writeEnvAnswer changes the env through mutateApp and answers the result.
func (s *server) writeEnvAnswer(c echo.Context, ident, action string, next func(cur map[string]string) (map[string]string, error)) error {
	_, d, err := s.mutateApp(c, ident, mutation{action: action,
		apply: func(_ context.Context, _ *store.Queries, _ store.App, d desired) (desired, []problem.FieldError, error) {
			env, err := next(d.Env)
			if err != nil {
				return d, nil, err
			}
			d.Env = env
			return d, nil, nil
		}})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, openapi.EnvVars{Env: d.Env})
}

// DeleteEnvVar removes one variable.
func (s *server) DeleteEnvVar(c echo.Context, ident openapi.AppPath, key string, _ openapi.DeleteEnvVarParams) error {
	_, _, err := s.mutateApp(c, ident, mutation{action: "env.delete", details: map[string]any{"key": key},
		apply: func(_ context.Context, _ *store.Queries, app store.App, d desired) (desired, []problem.FieldError, error) {
			if _, ok := d.Env[key]; !ok {
				return d, nil, problem.NotFound(fmt.Sprintf("app %q has no variable %q", app.Name, key))
			}
			delete(d.Env, key)
			return d, nil, nil
		}})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// ImportEnv sets variables from dotenv text.
func (s *server) ImportEnv(c echo.Context, ident openapi.AppPath, params openapi.ImportEnvParams) error {
	if ct := c.Request().Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "text/plain" && mt != "application/octet-stream" && mt != "text/x-dotenv") {
			return problem.New(http.StatusUnsupportedMediaType, problem.TypeUnsupportedMediaType, "Unsupported media type",
				fmt.Sprintf("send dotenv text as text/plain, not %q", ct))
		}
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	vars, errs, err := parseDotenv(c.Request().Context(), string(body))
	if err != nil {
		return err
	}
	if len(errs) == 0 {
		errs = checkEnv("env.", vars)
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	replace := params.Replace != nil && *params.Replace
	return s.writeEnvAnswer(c, ident, "env.import", func(cur map[string]string) (map[string]string, error) {
		if replace {
			return vars, nil
		}
		out := maps.Clone(cur)
		maps.Copy(out, vars)
		// Each side is within the limit; their union may not be.
		if len(out) > maxEnvVars {
			return nil, problem.Invalid(fe("env", fmt.Sprintf("the app has %d variables and the import adds %d: at most %d in all", len(cur), len(out)-len(cur), maxEnvVars)))
		}
		return out, nil
	})
}

// ExportEnv answers the app's variables as dotenv text.
func (s *server) ExportEnv(c echo.Context, ident openapi.AppPath, _ openapi.ExportEnvParams) error {
	env, err := s.readEnv(c, ident)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.String(http.StatusOK, formatDotenv(env))
}
