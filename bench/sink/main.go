// A loopback SignalR sink for bench/transport_bench.py, cheap enough never to be the bottleneck.
//
// REST: POST /api/... answers 202 (HEAD/GET /api/health 200). Persistent: GET /server/ upgrades to
// a WebSocket speaking just enough of the service protocol: the handshake, data messages (read,
// not fanned out), every ...WithAck message answered with an Ack (NotFound for the barrier's
// existence check), and a ping every 5 s. Each delivered invocation's arguments [key, seq,
// timestampMs] are recorded; GET /_bench/stats and /_bench/reset serve the numbers.
//
// Standard library only (its own minimal WebSocket and MessagePack code), so it builds offline.
package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

type stats struct {
	mu        sync.Mutex
	arrivals  []float64
	latencies []float64
	seen      map[int64]struct{}
	warm      int
	bad       int
	messages  int
	frames    int
}

var rec = &stats{seen: map[int64]struct{}{}}

func nowMs() float64 { return float64(time.Now().UnixNano()) / 1e6 }

// record notes one delivered invocation whose arguments are [key, seq, timestampMs].
func (s *stats) record(arguments []any, at float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(arguments) < 3 {
		s.bad++
		return
	}
	seq, ok1 := number(arguments[1])
	ts, ok2 := number(arguments[2])
	if !ok1 || !ok2 {
		s.bad++
		return
	}
	if seq < 0 {
		s.warm++
		return
	}
	s.arrivals = append(s.arrivals, at)
	s.latencies = append(s.latencies, at-ts)
	s.seen[int64(seq)] = struct{}{}
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		var f float64
		_, err := fmt.Sscan(x, &f)
		return f, err == nil
	}
	return 0, false
}

func percentile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func statsHandler(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	out := map[string]any{"count": len(rec.arrivals), "unique": len(rec.seen), "warm": rec.warm, "bad": rec.bad,
		"messages": rec.messages, "frames": rec.frames}
	if r.URL.Query().Get("full") != "" && len(rec.arrivals) > 0 {
		lat := append([]float64(nil), rec.latencies...)
		sort.Float64s(lat)
		first, last := rec.arrivals[0], rec.arrivals[0]
		for _, a := range rec.arrivals {
			first, last = math.Min(first, a), math.Max(last, a)
		}
		out["first_ms"], out["last_ms"] = first, last
		out["p50_ms"], out["p99_ms"], out["max_ms"] = percentile(lat, 0.5), percentile(lat, 0.99), lat[len(lat)-1]
	}
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func resetHandler(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.arrivals, rec.latencies, rec.seen = nil, nil, map[int64]struct{}{}
	rec.warm, rec.bad, rec.messages, rec.frames = 0, 0, 0, 0
	rec.mu.Unlock()
	w.Write([]byte("{}"))
}

func restHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusOK) // the health probe
		return
	}
	body, _ := io.ReadAll(r.Body)
	at := nowMs()
	var payload struct {
		Arguments []any `json:"arguments"`
	}
	if json.Unmarshal(body, &payload) == nil {
		rec.record(payload.Arguments, at)
	}
	w.WriteHeader(http.StatusAccepted)
}

// --- WebSocket (RFC 6455, the subset a client uses) -----------------------------------------

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

type wsConn struct {
	conn net.Conn
	r    *bufio.Reader
	wmu  sync.Mutex
}

func upgrade(w http.ResponseWriter, r *http.Request) (*wsConn, error) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return nil, errors.New("not a websocket upgrade")
	}
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + wsGUID))
	conn, rw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: %s\r\n\r\n", base64.StdEncoding.EncodeToString(sum[:]))
	if err := rw.Flush(); err != nil {
		return nil, err
	}
	return &wsConn{conn: conn, r: rw.Reader}, nil
}

// next returns the next data message (binary or text), answering pings and closes itself.
func (c *wsConn) next() ([]byte, error) {
	var message []byte
	for {
		head := make([]byte, 2)
		if _, err := io.ReadFull(c.r, head); err != nil {
			return nil, err
		}
		fin, opcode := head[0]&0x80 != 0, head[0]&0x0f
		masked, size := head[1]&0x80 != 0, uint64(head[1]&0x7f)
		if size == 126 {
			ext := make([]byte, 2)
			if _, err := io.ReadFull(c.r, ext); err != nil {
				return nil, err
			}
			size = uint64(binary.BigEndian.Uint16(ext))
		} else if size == 127 {
			ext := make([]byte, 8)
			if _, err := io.ReadFull(c.r, ext); err != nil {
				return nil, err
			}
			size = binary.BigEndian.Uint64(ext)
		}
		var mask [4]byte
		if masked {
			if _, err := io.ReadFull(c.r, mask[:]); err != nil {
				return nil, err
			}
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(c.r, payload); err != nil {
			return nil, err
		}
		if masked {
			for i := range payload {
				payload[i] ^= mask[i%4]
			}
		}
		switch opcode {
		case 0x8:
			c.write(0x8, payload)
			return nil, io.EOF
		case 0x9:
			c.write(0xA, payload)
			continue
		case 0xA:
			continue
		}
		message = append(message, payload...)
		if fin {
			return message, nil
		}
	}
}

func (c *wsConn) write(opcode byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	head := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		head = append(head, byte(n))
	case n < 65536:
		head = append(head, 126, byte(n>>8), byte(n))
	default:
		head = append(head, 127)
		head = binary.BigEndian.AppendUint64(head, uint64(n))
	}
	_, err := c.conn.Write(append(head, payload...))
	return err
}

// --- MessagePack (what the service protocol uses) -------------------------------------------

type reader struct {
	b   []byte
	pos int
}

var errShort = errors.New("short msgpack")

func (r *reader) byte1() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, errShort
	}
	r.pos++
	return r.b[r.pos-1], nil
}

func (r *reader) take(n int) ([]byte, error) {
	if r.pos+n > len(r.b) {
		return nil, errShort
	}
	r.pos += n
	return r.b[r.pos-n : r.pos], nil
}

func (r *reader) uint(n int) (uint64, error) {
	b, err := r.take(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v, nil
}

// value decodes one MessagePack value into Go values (maps with any keys, []byte for bin).
func (r *reader) value() (any, error) {
	t, err := r.byte1()
	if err != nil {
		return nil, err
	}
	switch {
	case t <= 0x7f:
		return int64(t), nil
	case t >= 0xe0:
		return int64(int8(t)), nil
	case t >= 0x80 && t <= 0x8f:
		return r.mapOf(int(t & 0x0f))
	case t >= 0x90 && t <= 0x9f:
		return r.arrayOf(int(t & 0x0f))
	case t >= 0xa0 && t <= 0xbf:
		b, err := r.take(int(t & 0x1f))
		return string(b), err
	}
	switch t {
	case 0xc0:
		return nil, nil
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	case 0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb:
		width := map[byte]int{0xc4: 1, 0xc5: 2, 0xc6: 4, 0xd9: 1, 0xda: 2, 0xdb: 4}[t]
		n, err := r.uint(width)
		if err != nil {
			return nil, err
		}
		b, err := r.take(int(n))
		if t >= 0xd9 {
			return string(b), err
		}
		return b, err
	case 0xcc, 0xcd, 0xce, 0xcf:
		n, err := r.uint(1 << (t - 0xcc))
		return int64(n), err
	case 0xd0, 0xd1, 0xd2, 0xd3:
		size := 1 << (t - 0xd0)
		n, err := r.uint(size)
		shift := 64 - 8*size
		return int64(n<<shift) >> shift, err
	case 0xca:
		n, err := r.uint(4)
		return float64(math.Float32frombits(uint32(n))), err
	case 0xcb:
		n, err := r.uint(8)
		return math.Float64frombits(n), err
	case 0xdc, 0xdd:
		n, err := r.uint(2 << (t - 0xdc))
		if err != nil {
			return nil, err
		}
		return r.arrayOf(int(n))
	case 0xde, 0xdf:
		n, err := r.uint(2 << (t - 0xde))
		if err != nil {
			return nil, err
		}
		return r.mapOf(int(n))
	}
	return nil, fmt.Errorf("msgpack type 0x%x not handled", t)
}

func (r *reader) arrayOf(n int) ([]any, error) {
	out := make([]any, n)
	for i := range out {
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (r *reader) mapOf(n int) (map[any]any, error) {
	out := make(map[any]any, n)
	for i := 0; i < n; i++ {
		k, err := r.value()
		if err != nil {
			return nil, err
		}
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func frame(body []byte) []byte {
	var prefix []byte
	n := len(body)
	for n > 0x7f {
		prefix = append(prefix, byte(n&0x7f|0x80))
		n >>= 7
	}
	return append(append(prefix, byte(n)), body...)
}

// ack writes [20, ackId, status, "", {}].
func ack(id int64, status byte) []byte {
	body := []byte{0x95, 0x14, 0xd2, 0, 0, 0, 0, status, 0xa0, 0x80}
	binary.BigEndian.PutUint32(body[3:7], uint32(id))
	return frame(body)
}

// Where the AckId sits in each ...WithAck message.
var ackIndex = map[int64]int{18: 3, 19: 3, 21: 3, 23: 2, 24: 2, 25: 2, 26: 3, 27: 3, 30: 3, 31: 2, 32: 3, 33: 3}

// Where the Payloads map sits in each data message.
var payloadIndex = map[int64]int{7: 2, 8: 2, 9: 2, 10: 2, 13: 3, 14: 2}

func serverHandler(w http.ResponseWriter, r *http.Request) {
	c, err := upgrade(w, r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	defer c.conn.Close()
	done := make(chan struct{})
	defer close(done)
	go func() { // the service pings every 5 s
		ticker := time.NewTicker(5 * time.Second)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				c.write(0x2, []byte{0x02, 0x91, 0x03})
			}
		}
	}()
	var buffer []byte
	for {
		data, err := c.next()
		if err != nil {
			return
		}
		at := nowMs()
		buffer = append(buffer, data...)
		var replies []byte
		count := 0
		for {
			size, used := uint64(0), 0
			for shift := 0; used < len(buffer); shift += 7 {
				b := buffer[used]
				used++
				size |= uint64(b&0x7f) << shift
				if b < 0x80 {
					break
				}
			}
			if used == 0 || used+int(size) > len(buffer) || (buffer[used-1]&0x80) != 0 {
				break
			}
			body := buffer[used : used+int(size)]
			buffer = buffer[used+int(size):]
			count++
			reply := handle(body, at)
			replies = append(replies, reply...)
		}
		rec.mu.Lock()
		rec.messages += count
		rec.frames++
		rec.mu.Unlock()
		if len(replies) > 0 && c.write(0x2, replies) != nil {
			return
		}
	}
}

func handle(body []byte, at float64) []byte {
	v, err := (&reader{b: body}).value()
	message, ok := v.([]any)
	if err != nil || !ok || len(message) == 0 {
		return nil
	}
	kind, _ := message[0].(int64)
	if kind == 1 { // handshake: [2, "", {}, "bench"]
		return frame([]byte{0x94, 0x02, 0xa0, 0x80, 0xa5, 'b', 'e', 'n', 'c', 'h'})
	}
	if i, ok := ackIndex[kind]; ok && i < len(message) {
		id, _ := message[i].(int64)
		status := byte(1)
		if kind == 24 {
			status = 2 // the barrier asks about a connection nobody has
		}
		return ack(id, status)
	}
	if i, ok := payloadIndex[kind]; ok && i < len(message) {
		payloads, _ := message[i].(map[any]any)
		if raw, ok := payloads["json"].([]byte); ok {
			var invocation struct {
				Arguments []any `json:"arguments"`
			}
			if json.Unmarshal([]byte(strings.TrimSuffix(string(raw), "\x1e")), &invocation) == nil {
				rec.record(invocation.Arguments, at)
			}
		}
	}
	return nil
}

func main() {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(listener.Addr().(*net.TCPAddr).Port)
	mux := http.NewServeMux()
	mux.HandleFunc("/_bench/stats", statsHandler)
	mux.HandleFunc("/_bench/reset", resetHandler)
	mux.HandleFunc("/server/", serverHandler)
	mux.HandleFunc("/server", serverHandler)
	mux.HandleFunc("/api/", restHandler)
	http.Serve(listener, mux)
}
