// Command etcd runs the etcd server from the published go.etcd.io/etcd/server/v3
// module. Upstream's own main lives in a module that is not published separately,
// so this wrapper calls the same entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
