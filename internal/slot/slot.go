// Package slot computes Redis Cluster hash slots, for the tests that place
// keys on chosen masters and for the sharded queues that spread their
// shards over the slot space.
package slot

import "strings"

// Count is the number of hash slots of a Redis Cluster.
const Count = 16384

// Of returns the Redis Cluster hash slot of key: CRC16 (XMODEM) of its
// hash tag, the text between the first "{" and the next "}" when that is
// not empty, or else of the whole key, modulo Count.
func Of(key string) int {
	return int(crc16(Hashed(key)) % Count)
}

// Hashed returns the part of key that Redis Cluster hashes.
func Hashed(key string) string {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if n := strings.IndexByte(key[open+1:], '}'); n > 0 {
			return key[open+1 : open+1+n]
		}
	}
	return key
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), the
// checksum Redis Cluster hashes keys with.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
