package twin

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// gatewayTimeout bounds one call to etcd's JSON gateway. Member list is linearizable, so it
// blocks while the cluster has no quorum, for example between a member add and that member's
// start.
const gatewayTimeout = 5 * time.Second

// etcdGateway talks to etcd through its v3 JSON gateway over mTLS, so the twin needs no etcd
// client library: only the few cluster calls Talos itself makes.
type etcdGateway struct {
	http *http.Client
}

func newEtcdGateway(tlsCfg *tls.Config) *etcdGateway {
	return &etcdGateway{http: &http.Client{
		Timeout:   gatewayTimeout,
		Transport: &http.Transport{TLSClientConfig: tlsCfg, DisableKeepAlives: true},
	}}
}

// gatewayMember is a member as the gateway encodes it: 64-bit IDs as JSON strings.
type gatewayMember struct {
	ID         jsonUint64 `json:"ID"`
	Name       string     `json:"name"`
	PeerURLs   []string   `json:"peerURLs"`
	ClientURLs []string   `json:"clientURLs"`
	IsLearner  bool       `json:"isLearner"`
}

type memberListResponse struct {
	Members []gatewayMember `json:"members"`
}

// jsonUint64 accepts a uint64 written as a JSON string (the gateway's way) or a number.
type jsonUint64 uint64

// UnmarshalJSON implements json.Unmarshaler.
func (u *jsonUint64) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseUint(strings.Trim(string(b), `"`), 10, 64)
	if err != nil {
		return fmt.Errorf("parse member ID %s: %w", b, err)
	}

	*u = jsonUint64(v)

	return nil
}

// memberList lists the members as the etcd at clientURL sees them.
func (g *etcdGateway) memberList(ctx context.Context, clientURL string) ([]gatewayMember, error) {
	var resp memberListResponse
	if err := g.post(ctx, clientURL+"/v3/cluster/member/list", map[string]any{"linearizable": true}, &resp); err != nil {
		return nil, fmt.Errorf("list etcd members at %s: %w", clientURL, err)
	}

	return resp.Members, nil
}

// memberAdd adds a learner with peerURL through the etcd at clientURL and returns the members
// that follow, the new one included (still without a name). A learner does not count towards
// the quorum, so a member that is slow to start (or never starts) cannot take the cluster down;
// it is promoted once it caught up (memberPromote). etcd allows one learner at a time, which
// also serialises concurrent joiners.
func (g *etcdGateway) memberAdd(ctx context.Context, clientURL, peerURL string) ([]gatewayMember, error) {
	var resp memberListResponse
	body := map[string]any{"peerURLs": []string{peerURL}, "isLearner": true}
	if err := g.post(ctx, clientURL+"/v3/cluster/member/add", body, &resp); err != nil {
		return nil, fmt.Errorf("add etcd learner %s at %s: %w", peerURL, clientURL, err)
	}

	return resp.Members, nil
}

// memberRemove removes member id through the etcd at clientURL.
func (g *etcdGateway) memberRemove(ctx context.Context, clientURL string, id uint64) error {
	body := map[string]any{"ID": strconv.FormatUint(id, 10)}
	if err := g.post(ctx, clientURL+"/v3/cluster/member/remove", body, &memberListResponse{}); err != nil {
		return fmt.Errorf("remove etcd member %x at %s: %w", id, clientURL, err)
	}

	return nil
}

// memberPromote makes the learner id a voting member; etcd refuses while it lags the leader.
func (g *etcdGateway) memberPromote(ctx context.Context, clientURL string, id uint64) error {
	body := map[string]any{"ID": strconv.FormatUint(id, 10)}
	if err := g.post(ctx, clientURL+"/v3/cluster/member/promote", body, &memberListResponse{}); err != nil {
		return fmt.Errorf("promote etcd learner %x at %s: %w", id, clientURL, err)
	}

	return nil
}

// health asks the etcd at clientURL whether it has a leader and serves reads.
func (g *etcdGateway) health(ctx context.Context, clientURL string) error {
	var resp struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if err := g.do(ctx, http.MethodGet, clientURL+"/health", nil, &resp); err != nil {
		return fmt.Errorf("check etcd health at %s: %w", clientURL, err)
	}

	if resp.Health != "true" {
		return fmt.Errorf("etcd at %s is unhealthy: %s", clientURL, resp.Reason)
	}

	return nil
}

func (g *etcdGateway) post(ctx context.Context, url string, body, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}

	return g.do(ctx, http.MethodPost, url, data, out)
}

func (g *etcdGateway) do(ctx context.Context, method, url string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}

	req.Header.Set("Content-Type", "application/json")

	resp, err := g.http.Do(req)
	if err != nil {
		return err //nolint:wrapcheck // the caller names the call; the URL is already in err
	}
	defer resp.Body.Close()

	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}

	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(data))
	}

	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}

	return nil
}
