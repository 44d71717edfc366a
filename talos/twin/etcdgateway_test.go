package twin

import (
	"encoding/json"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeMemberList(t *testing.T) {
	// As etcd's gateway writes it: IDs as strings, the unstarted member without a name.
	raw := `{"header":{"cluster_id":"1"},"members":[
		{"ID":"12897642785452392478","name":"cp-1","peerURLs":["https://10.5.0.2:2380"],"clientURLs":["https://10.5.0.2:2379"]},
		{"ID":"42","peerURLs":["https://10.5.0.3:2380"],"isLearner":true}]}`

	var resp memberListResponse
	require.NoError(t, json.Unmarshal([]byte(raw), &resp))
	require.Len(t, resp.Members, 2)
	assert.Equal(t, jsonUint64(12897642785452392478), resp.Members[0].ID)
	assert.Equal(t, "cp-1", resp.Members[0].Name)
	assert.True(t, resp.Members[1].IsLearner)
	assert.True(t, hasPeer(resp.Members, "https://10.5.0.3:2380"))
	assert.False(t, hasPeer(resp.Members, "https://10.5.0.4:2380"))
}

func TestJoinEndpoints(t *testing.T) {
	n := &ProcessNode{opts: ProcessOptions{Address: net.IPv4(10, 5, 0, 3)}}
	assert.Equal(t, []string{"10.5.0.10:2379"}, n.joinEndpoints(clusterFacts{endpointHost: "10.5.0.10"}), "the VIP by default")

	n.opts.JoinEndpoints = []string{"10.5.0.2", "cp-1", "10.5.0.4:12379"}
	assert.Equal(t, []string{"10.5.0.2:2379", "cp-1:2379", "10.5.0.4:12379"}, n.joinEndpoints(clusterFacts{}))
}
