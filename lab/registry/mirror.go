package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// A node's containerd pulls upstream images (ghcr.io/fluxcd/source-controller:v1.7.2) through
// the lab registry as a mirror: certs.d/<upstream host>/hosts.toml points at the lab registry,
// and containerd then asks for /v2/fluxcd/source-controller/manifests/v1.7.2?ns=ghcr.io — the
// upstream host is only in the ns query parameter. The lab keeps each mirrored image under
// "<upstream host>/<path>" (MirrorRef), so mirrorHandler moves ns into the path. A request without
// ns is left alone, and a mirrored name the lab does not hold is a 404, so a mirror misses rather
// than serving an image of the same path from another registry.

// mirrorNS matches an ns value the lab mirrors: a lower-case host name that is also a valid
// repository path component (no port: ":" cannot appear in a repository name).
var mirrorNS = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// mirrorHandler serves /v2/<repo>/...?ns=<host> as /v2/<host>/<repo>/..., without ns. Requests
// without ns, and the API version check /v2/ with or without it, pass through unchanged.
func mirrorHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		ns := q.Get("ns")
		rest, isV2 := strings.CutPrefix(r.URL.Path, "/v2/")
		if ns == "" || !isV2 || rest == "" {
			next.ServeHTTP(w, r)
			return
		}
		if !mirrorNS.MatchString(ns) {
			writeRegistryError(w, http.StatusNotFound, "NAME_UNKNOWN",
				fmt.Sprintf("ns %q is not a registry host the lab mirrors (lower-case host name without a port)", ns))
			return
		}
		q.Del("ns")
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/v2/" + ns + "/" + rest
		r2.URL.RawPath = ""
		r2.URL.RawQuery = q.Encode()
		r2.RequestURI = r2.URL.RequestURI()
		next.ServeHTTP(w, r2)
	})
}

// writeRegistryError writes an error in the distribution API's JSON form.
func writeRegistryError(w http.ResponseWriter, status int, code, message string) {
	type entry struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct { // the status line is out; a failed body write has no one to tell
		Errors []entry `json:"errors"`
	}{[]entry{{Code: code, Message: message}}})
}

// MirrorRef is where the lab registry at addr keeps the upstream image upstream
// ("registry.k8s.io/pause:3.10.1" → "<addr>/registry.k8s.io/pause:3.10.1"), so that a containerd
// mirroring the upstream host to addr finds it. upstream must name its registry and a tag or
// digest explicitly; Docker Hub images are kept under "docker.io", the ns containerd sends for them.
func MirrorRef(addr, upstream string) (string, error) {
	ref, err := name.ParseReference(upstream, name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("parse upstream reference %q (want <host>/<path>:<tag>, such as registry.k8s.io/pause:3.10.1): %w", upstream, err)
	}
	host := ref.Context().RegistryStr()
	if host == name.DefaultRegistry {
		host = "docker.io"
	}
	if !mirrorNS.MatchString(host) {
		return "", fmt.Errorf("upstream reference %q: registry %q cannot be mirrored (a port or upper case cannot be part of a repository path)", upstream, host)
	}
	sep := ":"
	if _, ok := ref.(name.Digest); ok {
		sep = "@"
	}
	return fmt.Sprintf("%s/%s/%s%s%s", addr, host, ref.Context().RepositoryStr(), sep, ref.Identifier()), nil
}
