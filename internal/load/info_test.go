package load

import "testing"

// TestParseInfo checks the INFO reader on a reply shaped like Redis 7's.
func TestParseInfo(t *testing.T) {
	text := "# Commandstats\r\n" +
		"cmdstat_fcall:calls=10,usec=100,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_hset:calls=30,usec=30,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_info:calls=2,usec=20,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_client|setinfo:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n" +
		"\r\n# CPU\r\nused_cpu_sys:0.500000\r\nused_cpu_user:1.250000\r\nused_cpu_sys_children:9.000000\r\n"
	s := sample{redis: true}
	if err := s.parseInfo(text); err != nil {
		t.Fatal(err)
	}
	if s.commands != 43 || s.scripts != 10 || s.infoCalls != 2 || s.redisCPU.Seconds() != 1.75 {
		t.Errorf("parsed %+v", s)
	}
	if err := s.parseInfo("# CPU\r\nused_cpu_sys:1\r\n"); err == nil {
		t.Error("reply without commandstats: want an error")
	}
	u := sample{redis: true, commands: 100, scripts: 20, infoCalls: 5}.minus(s)
	if u.Commands != 100-43-(5-2) || u.Scripts != 10 {
		t.Errorf("delta %+v", u)
	}
}
