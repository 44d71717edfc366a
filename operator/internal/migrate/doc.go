// Package migrate upgrades a running platform's stored state from one platform version to the
// next. It replaces upstream's numbered shell scripts (run by a pre-upgrade Job) with Go
// migrations run by `cozystack-operator migrate`, keeping upstream's contract:
//
//   - the platform version lives in ConfigMap cozy-system/cozystack-version, key "version";
//   - no ConfigMap means a fresh install: it is stamped at Target and nothing runs;
//   - otherwise migrations current … Target-1 run in order, migration N moving version N to N+1;
//   - a version with no registered migration stops the run before anything changes.
//
// Unlike upstream, where each script stamps its own successor version, the runner stamps N+1
// after migration N succeeds, with a write that fails if the version moved underneath it. A
// failure therefore leaves version N, and a re-run resumes at N; every migration must be
// idempotent, since a crash between its work and the stamp runs it again.
//
// The migrations are listed explicitly in All; Target is the version they lead to.
package migrate
