// gonet: the Go programs of the system-call backend's tests, one binary
// with a subcommand each (standard library only, loopback only).
//
//	gonet http               a net/http server and a client of it in one process
//	gonet dns PORT NAME      a pure-Go UDP DNS lookup against 127.0.0.1:PORT
//	gonet storm N M          N goroutines on their own threads, M datagrams each
//	gonet hold               one UDP sendto while 3 threads keep writing
//	gonet connect PORT       one TCP connect to 127.0.0.1:PORT (refused or not)
//	gonet loop PORT N        N HTTP GETs of 127.0.0.1:PORT (the benchmark)
//	gonet serve              an HTTP server on 127.0.0.1 until stdin closes
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gonet http|dns|storm|connect|resolve|loop|serve ...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "http":
		httpBoth()
	case "dns":
		lookup(os.Args[2], os.Args[3])
	case "storm":
		n, _ := strconv.Atoi(os.Args[2])
		m, _ := strconv.Atoi(os.Args[3])
		storm(n, m)
	case "hold":
		hold()
	case "connect":
		dialOnce(os.Args[2])
	case "resolve":
		addrs, err := net.LookupHost(os.Args[2])
		if err != nil || len(addrs) == 0 {
			fmt.Println("resolve:", err)
			os.Exit(3)
		}
		fmt.Println("resolved")
	case "loop":
		n, _ := strconv.Atoi(os.Args[3])
		getLoop(os.Args[2], n)
	case "serve":
		serve()
	default:
		os.Exit(2)
	}
}

func httpBoth() {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello from go\n")
	})}
	go srv.Serve(ln)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + ln.Addr().String() + "/gonet")
	if err != nil {
		fmt.Println("get:", err)
		os.Exit(1)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	srv.Close()
	fmt.Printf("status %d body %q\n", resp.StatusCode, body)
}

func lookup(port, name string) {
	r := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp4", "127.0.0.1:"+port)
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := r.LookupIPAddr(ctx, name)
	if err != nil {
		fmt.Println("lookup:", err)
		os.Exit(1)
	}
	for _, a := range addrs {
		fmt.Println("addr", a.IP)
	}
}

// lockedPair locks the calling goroutine to its OS thread and opens a
// datagram socketpair for it.
func lockedPair() [2]int {
	runtime.LockOSThread()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
	if err != nil {
		panic(err)
	}
	return fds
}

// storm: each goroutine locks itself to an OS thread and moves m one-byte
// datagrams over its own socketpair with plain blocking system calls, so
// the counts are exact: n*m writes, n*m reads.
func storm(n, m int) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fds := lockedPair()
			b := []byte{'x'}
			for j := 0; j < m; j++ {
				if _, err := syscall.Write(fds[0], b); err != nil {
					panic(err)
				}
				if _, err := syscall.Read(fds[1], b); err != nil {
					panic(err)
				}
			}
			syscall.Close(fds[0])
			syscall.Close(fds[1])
		}()
	}
	wg.Wait()
	fmt.Println("storm done")
}

// hold: three goroutines on their own threads write and read datagrams
// until the main goroutine's one sendto (which a test delays) returned.
func hold() {
	var done int32
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fds := lockedPair()
			b := []byte{'x'}
			for atomic.LoadInt32(&done) == 0 {
				syscall.Write(fds[0], b)
				syscall.Read(fds[1], b)
				time.Sleep(time.Millisecond)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		panic(err)
	}
	err = syscall.Sendto(fd, []byte("held"), 0, &syscall.SockaddrInet4{Port: 9, Addr: [4]byte{127, 0, 0, 1}})
	atomic.StoreInt32(&done, 1)
	wg.Wait()
	fmt.Println("hold done", err)
}

func dialOnce(port string) {
	c, err := net.Dial("tcp4", "127.0.0.1:"+port)
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(3)
	}
	c.Close()
	fmt.Println("connected")
}

func getLoop(port string, n int) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < n; i++ {
		resp, err := c.Get("http://127.0.0.1:" + port + "/")
		if err != nil {
			fmt.Println("get:", err)
			os.Exit(1)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	fmt.Println("loop done")
}

func serve() {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	fmt.Println("port", ln.Addr().(*net.TCPAddr).Port)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})}
	go srv.Serve(ln)
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
}
