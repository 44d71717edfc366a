package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("X-Probe", "1")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestEchoPage(t *testing.T) {
	srv := httptest.NewServer(newHandler("echo-7d9f-abcde"))
	defer srv.Close()

	for _, path := range []string{"/", "/some/path?q=1"} {
		code, body := get(t, srv, path)
		assert.Equal(t, http.StatusOK, code)
		assert.Contains(t, body, "echo from echo-7d9f-abcde\n", "the page names the pod")
		assert.Contains(t, body, "GET "+path+" HTTP/1.1\n", "the page echoes the request line")
		assert.Contains(t, body, "X-Probe: 1\n", "the page echoes the headers")
	}
}

func TestHealthz(t *testing.T) {
	srv := httptest.NewServer(newHandler("h"))
	defer srv.Close()
	code, body := get(t, srv, "/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)
}

func TestFetch(t *testing.T) {
	srv := httptest.NewServer(newHandler("pod-a"))
	defer srv.Close()
	var out bytes.Buffer
	require.NoError(t, fetch(srv.URL+"/x", &out))
	assert.Contains(t, out.String(), "echo from pod-a\n")
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	assert.ErrorContains(t, fetch(missing.URL, &out), "404", "a status other than 200 is an error")
}
