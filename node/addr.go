package node

import (
	"fmt"
	"net"
	"strings"
)

// clusterAddrs returns the cluster port's bind address and the address
// peers dial. A wildcard bind advertises an address chosen like Kuzzle's
// cluster.ip / cluster.interface; with no secret and no peers, the port is
// narrowed to loopback so an unauthenticated port never faces a network.
func clusterAddrs(c Config) (bind, advertise string, err error) {
	host, port, err := net.SplitHostPort(c.Cluster.Addr)
	if err != nil {
		return "", "", fmt.Errorf("cluster.addr %q: %w", c.Cluster.Addr, err)
	}
	wildcard := host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified()
	alone := c.Cluster.Redis == "" && len(c.Cluster.Join) == 0
	switch {
	case c.Cluster.AdvertiseAddr != "":
		bind, advertise = c.Cluster.Addr, c.Cluster.AdvertiseAddr
	case !wildcard:
		bind, advertise = c.Cluster.Addr, c.Cluster.Addr
	case alone && c.Cluster.Secret == "":
		loop := net.JoinHostPort("127.0.0.1", port)
		bind, advertise = loop, loop
	default:
		ip, err := pickIP(c.Cluster)
		if err != nil {
			return "", "", err
		}
		bind, advertise = c.Cluster.Addr, net.JoinHostPort(ip.String(), port)
	}
	return bind, advertise, nil
}

// advertisedAPI is the API address other nodes and status readers see.
func advertisedAPI(listen net.Addr, clusterAdvertise string) string {
	host, port, err := net.SplitHostPort(listen.String())
	if err != nil {
		return listen.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if h, _, err := net.SplitHostPort(clusterAdvertise); err == nil {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}

func pickIP(c ClusterConfig) (net.IP, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing network interfaces: %w", err)
	}
	want := strings.TrimSpace(c.Interface)
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip := ipn.IP
			if want != "" && want != ifc.Name && want != ip.String() && want != ifc.HardwareAddr.String() {
				continue
			}
			if ip.IsLoopback() || ip.IsLinkLocalUnicast() || (ip.To4() == nil) != c.IPv6 {
				continue
			}
			switch c.IP {
			case "private":
				if !ip.IsPrivate() {
					continue
				}
			case "public":
				if ip.IsPrivate() {
					continue
				}
			}
			return ip, nil
		}
	}
	return nil, fmt.Errorf("no %s address found on interface %q to advertise on the cluster port: set --advertise-addr, cluster.ip or cluster.interface",
		map[bool]string{true: "IPv6", false: "IPv4"}[c.IPv6]+" "+c.IP, want)
}
