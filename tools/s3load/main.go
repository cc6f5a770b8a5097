// s3load drives one S3 workload (PUT or GET of fixed-size objects at a fixed concurrency) against
// one endpoint and prints what it measured as one JSON object: requests, bytes, wall time,
// latency percentiles and its own CPU time, so a benchmark can show the generator was not the
// bottleneck. The benchmark harness (bench/) runs it against each contender in turn.
//
// Credentials come from S3LOAD_ACCESS_KEY and S3LOAD_SECRET_KEY, never from the command line.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

type result struct {
	Op          string  `json:"op"`
	Endpoint    string  `json:"endpoint"`
	Size        int64   `json:"size"`
	Concurrency int     `json:"concurrency"`
	Requests    int     `json:"requests"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	Seconds     float64 `json:"seconds"`
	MiBPerS     float64 `json:"mib_per_s"`
	ReqPerS     float64 `json:"requests_per_s"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	Cores       int     `json:"cores"`
	// CPUShare is the generator's CPU time over the machine's capacity for the run's wall time.
	CPUShare float64 `json:"cpu_share"`
}

func main() {
	endpoint := flag.String("endpoint", "", "host:port of the S3 endpoint (plain HTTP)")
	bucket := flag.String("bucket", "", "bucket, which must exist")
	prefix := flag.String("prefix", "s3load", "key prefix; objects are <prefix>/<n>")
	op := flag.String("op", "put", "put, get, or delete (removes <prefix>/0..requests-1, untimed)")
	size := flag.Int64("size", 4096, "object size in bytes")
	concurrency := flag.Int("concurrency", 4, "requests in flight")
	requests := flag.Int("requests", 100, "requests in all; GET reads <prefix>/0..requests-1, which a PUT run made")
	partSize := flag.Uint64("part-size", 0, "multipart part size in bytes (0: the library's choice)")
	expect := flag.Bool("expect-continue", false, "send PUT bodies after a 100 Continue, as boto3 and the AWS CLI do")
	flag.Parse()
	if err := run(*endpoint, *bucket, *prefix, *op, *size, *concurrency, *requests, *partSize, *expect); err != nil {
		fmt.Fprintln(os.Stderr, "s3load:", err)
		os.Exit(2)
	}
}

func run(endpoint, bucket, prefix, op string, size int64, concurrency, requests int, partSize uint64, expect bool) error {
	access, secret := os.Getenv("S3LOAD_ACCESS_KEY"), os.Getenv("S3LOAD_SECRET_KEY")
	switch {
	case endpoint == "" || bucket == "":
		return errors.New("-endpoint and -bucket are required")
	case access == "" || secret == "":
		return errors.New("S3LOAD_ACCESS_KEY and S3LOAD_SECRET_KEY must be set")
	case op != "put" && op != "get" && op != "delete":
		return fmt.Errorf("-op must be put, get or delete, not %q", op)
	case size <= 0 || concurrency <= 0 || requests <= 0:
		return errors.New("-size, -concurrency and -requests must be positive")
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = concurrency
	transport.MaxConnsPerHost = 0
	var roundTripper http.RoundTripper = transport
	if expect {
		roundTripper = expectContinue{transport}
	}
	client, err := minio.New(endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(access, secret, ""),
		Transport: roundTripper,
	})
	if err != nil {
		return err
	}
	if op == "delete" {
		return remove(client, bucket, prefix, requests)
	}
	body := make([]byte, size)
	if _, err := rand.Read(body); err != nil {
		return err
	}

	ctx := context.Background()
	var next atomic.Int64
	var failures atomic.Int64
	var firstError atomic.Value
	latencies := make([]time.Duration, requests)
	one := func(n int) error {
		key := fmt.Sprintf("%s/%d", prefix, n)
		if op == "put" {
			_, err := client.PutObject(ctx, bucket, key, bytes.NewReader(body), size, minio.PutObjectOptions{
				ContentType: "application/octet-stream", PartSize: partSize,
				// Unsigned payload: hashing every byte would make the generator the bottleneck.
				DisableContentSha256: true,
			})
			return err
		}
		object, err := client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
		if err != nil {
			return err
		}
		defer object.Close()
		read, err := io.Copy(io.Discard, object)
		if err == nil && read != size {
			err = fmt.Errorf("%s: read %d bytes, expected %d", key, read, size)
		}
		return err
	}

	before := cpuSeconds()
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1)) - 1
				if n >= requests {
					return
				}
				began := time.Now()
				if err := one(n); err != nil {
					failures.Add(1)
					firstError.CompareAndSwap(nil, err.Error())
				}
				latencies[n] = time.Since(began)
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start).Seconds()
	cpu := cpuSeconds() - before

	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	at := func(q float64) float64 {
		return float64(latencies[int(q*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	out := result{
		Op: op, Endpoint: endpoint, Size: size, Concurrency: concurrency, Requests: requests,
		Errors: failures.Load(), Seconds: wall,
		MiBPerS: float64(size) * float64(requests) / wall / (1 << 20), ReqPerS: float64(requests) / wall,
		P50Ms: at(0.50), P99Ms: at(0.99), MaxMs: at(1),
		CPUSeconds: cpu, Cores: runtime.NumCPU(), CPUShare: cpu / (wall * float64(runtime.NumCPU())),
	}
	if e, ok := firstError.Load().(string); ok {
		out.FirstError = e
	}
	encoder := json.NewEncoder(os.Stdout)
	if err := encoder.Encode(out); err != nil {
		return err
	}
	if out.Errors > 0 {
		return fmt.Errorf("%d of %d requests failed; first: %s", out.Errors, requests, out.FirstError)
	}
	return nil
}

// removeAttempts bounds how often remove asks again for keys MinIO answered with a SlowDown code.
const removeAttempts = 5

// remove deletes what a PUT run wrote, so rounds of large objects do not fill the drives. A
// multi-object delete reports errors per key inside a 200 answer, which the client does not retry:
// keys answered SlowDown, SlowDownWrite or SlowDownRead (MinIO's "please reduce your request rate",
// seen on a cluster seconds old) are asked again, with a growing pause, up to removeAttempts times.
// Any other error fails at once.
func remove(client *minio.Client, bucket, prefix string, requests int) error {
	pending := make([]string, 0, requests)
	for n := range requests {
		pending = append(pending, fmt.Sprintf("%s/%d", prefix, n))
	}
	for attempt := 1; len(pending) > 0; attempt++ {
		keys := make(chan minio.ObjectInfo, len(pending))
		for _, key := range pending {
			keys <- minio.ObjectInfo{Key: key}
		}
		close(keys)
		var again []string
		var last error
		for failure := range client.RemoveObjects(context.Background(), bucket, keys, minio.RemoveObjectsOptions{}) {
			code := minio.ToErrorResponse(failure.Err).Code
			if (code != "SlowDown" && code != "SlowDownWrite" && code != "SlowDownRead") || attempt == removeAttempts {
				return fmt.Errorf("delete %s (attempt %d): %w", failure.ObjectName, attempt, failure.Err)
			}
			again, last = append(again, failure.ObjectName), failure.Err
		}
		if len(again) > 0 {
			fmt.Fprintf(os.Stderr, "s3load: %d keys answered %v; asking again\n", len(again), last)
			time.Sleep(time.Duration(attempt) * 250 * time.Millisecond)
		}
		pending = again
	}
	return nil
}

// expectContinue asks for a 100 Continue before every PUT body (after signing: Expect is not signed).
type expectContinue struct{ next http.RoundTripper }

func (e expectContinue) RoundTrip(request *http.Request) (*http.Response, error) {
	if request.Method == http.MethodPut && request.ContentLength != 0 {
		request.Header.Set("Expect", "100-continue")
	}
	return e.next.RoundTrip(request)
}

func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	seconds := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return seconds(usage.Utime) + seconds(usage.Stime)
}
