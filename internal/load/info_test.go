package load

import "testing"

// TestParseInfo checks the INFO reader on a reply shaped like Redis 7's.
func TestParseInfo(t *testing.T) {
	text := "# Commandstats\r\n" +
		"cmdstat_fcall:calls=10,usec=100,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_hset:calls=30,usec=30,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_info:calls=2,usec=20,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_client|setinfo:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n" +
		"\r\n# CPU\r\nused_cpu_sys:0.500000\r\nused_cpu_user:1.250000\r\nused_cpu_sys_children:9.000000\r\n" +
		"\r\n# Stats\r\ntotal_net_output_bytes:5000\r\ntotal_reads_processed:40\r\ntotal_writes_processed:39\r\n"
	c, err := ParseInfo(text)
	if err != nil {
		t.Fatal(err)
	}
	if c.Commands != 43 || c.Scripts != 10 || c.InfoCalls != 2 || c.Reads != 40 || c.OutputBytes != 5000 || c.RedisCPU.Seconds() != 1.75 {
		t.Errorf("parsed %+v", c)
	}
	if _, err := ParseInfo("# CPU\r\nused_cpu_sys:1\r\n"); err == nil {
		t.Error("reply without commandstats: want an error")
	}
	later := Counters{Commands: 100, Scripts: 20, InfoCalls: 5, Reads: 50, OutputBytes: 9000}
	d := later.Since(c)
	if d.Commands != 100-43-(5-2) || d.Scripts != 10 || d.Reads != 50-40-(5-2) || d.OutputBytes != 4000 {
		t.Errorf("delta %+v", d)
	}
	u := sample{redis: true, counters: later}.minus(sample{redis: true, counters: c})
	if u.Commands != d.Commands || u.Reads != d.Reads || u.Scripts != d.Scripts {
		t.Errorf("usage %+v, want the counters' delta %+v", u, d)
	}
}
