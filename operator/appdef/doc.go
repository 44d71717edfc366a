// Package appdef resolves a tenant-facing kind (HTTPCache, VMDisk, Postgres) to the
// ApplicationDefinition that declares it.
//
// An ApplicationDefinition's metadata.name (http-cache) is chosen per application and is not a
// function of spec.application.kind (HTTPCache): lower-casing the kind gives the singular
// (httpcache), never the object name, so a Get by a derived name finds nothing or the wrong
// object. The only reliable lookup is to list the definitions and compare
// spec.application.kind, which is what this package does. The set is small (tens of objects)
// and changes rarely, so a list is cheap.
//
// The finder takes a controller-runtime client.Reader, so a long-running caller passes its
// manager's cache (no API round trip, always current) and a short-lived one a direct client.
// Paging (Finder.PageSize) is for direct clients listing a large catalogue; a cache holds every
// object already and refuses continue tokens, so leave PageSize at zero with a cache.
//
// The returned object is the caller's own copy: it may read spec.application.openAPISchema or
// spec.dashboard, or modify it, without a second request and without touching a cache.
package appdef
