package api

import (
	"encoding/json"
	"testing"
	"time"
)

// cluster:status keeps Kuzzle's shape ({activeNodes, activity, nodes}) and
// Korum's Raft fields, byte for byte: clients and the jepsen harness read it.
func TestClusterStatusShape(t *testing.T) {
	st := &ClusterStatus{ClusterID: "c1", LeaderID: "n1", Term: 3, CommitIndex: 42, Voters: 1, VotersWanted: 3,
		FeatureVersion: 1, FormatVersion: 2,
		Nodes: []ClusterNode{
			{ID: "n1", ClusterAddr: "10.0.0.1:7511", APIAddr: "10.0.0.1:7512", Role: "voter", Leader: true, Applied: 42,
				LastContact: time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600)),
				Birthdate:   time.UnixMilli(1700000000123)},
			{ID: "n2", ClusterAddr: "[::1]:7511", Role: "nonvoter", Applied: 40, Lag: 2},
		},
		Activity: []ClusterEvent{
			{ID: "n1", Address: "10.0.0.1:7511", Date: time.UnixMilli(1700000000123), Event: "joined"},
			{ID: "n3", Address: "10.0.0.3:7511", Date: time.UnixMilli(1700000000999), Event: "evicted", Reason: "dead"},
		}}
	got, err := json.Marshal(clusterStatusView(st))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"activeNodes":2,"activity":[` +
		`{"address":"10.0.0.1:7511","date":"2023-11-14T22:13:20.123Z","event":"joined","id":"n1"},` +
		`{"address":"10.0.0.3:7511","date":"2023-11-14T22:13:20.999Z","event":"evicted","id":"n3","reason":"dead"}],` +
		`"clusterId":"c1","commitIndex":42,"featureVersion":1,"formatVersion":2,"leader":"n1","nodes":[` +
		`{"address":"10.0.0.1","apiAddress":"10.0.0.1:7512","appliedIndex":42,"birthdate":"2023-11-14T22:13:20.123Z","clusterAddress":"10.0.0.1:7511","id":"n1","lag":0,"lastContact":"2026-01-02T02:04:05.0000006Z","leader":true,"role":"voter"},` +
		`{"address":"::1","apiAddress":"","appliedIndex":40,"clusterAddress":"[::1]:7511","id":"n2","lag":2,"leader":false,"role":"nonvoter"}],` +
		`"term":3,"voters":1,"votersWanted":3}`
	if string(got) != want {
		t.Fatalf("cluster:status\n got %s\nwant %s", got, want)
	}
}
