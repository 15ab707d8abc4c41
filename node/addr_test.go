package node

import (
	"net"
	"testing"
)

func TestClusterAddrs(t *testing.T) {
	c := Defaults()
	bind, adv, err := clusterAddrs(c)
	if err != nil || bind != "127.0.0.1:7511" || adv != bind {
		t.Fatalf("a lone node without a secret must stay on loopback: %s %s %v", bind, adv, err)
	}
	c.Cluster.Addr = "127.0.0.12:7511"
	c.Cluster.Join = []string{"127.0.0.11:7511"}
	if bind, adv, _ = clusterAddrs(c); bind != "127.0.0.12:7511" || adv != bind {
		t.Fatalf("a specific address is its own advertisement: %s %s", bind, adv)
	}
	c.Cluster.Addr, c.Cluster.AdvertiseAddr = ":7511", "10.1.2.3:7511"
	if bind, adv, _ = clusterAddrs(c); bind != ":7511" || adv != "10.1.2.3:7511" {
		t.Fatalf("--advertise-addr wins: %s %s", bind, adv)
	}
	c.Cluster.AdvertiseAddr, c.Cluster.Interface = "", "no-such-interface"
	if _, _, err := clusterAddrs(c); err == nil {
		t.Fatal("an unknown interface must be an error")
	}
	if got := advertisedAPI(&net.TCPAddr{IP: net.IPv6unspecified, Port: 7512}, "10.1.2.3:7511"); got != "10.1.2.3:7512" {
		t.Fatalf("advertised API %s", got)
	}
}
