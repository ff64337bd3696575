package pipeline

import (
	"fmt"
	"testing"
)

// TestCustomerPartition: every id of a block of consecutive ids goes to
// one partition, blocks spread over the partitions, and accounts route
// apart.
func TestCustomerPartition(t *testing.T) {
	used := map[int]int{}
	for block := range 200 {
		want := customerPartition("P00000001", fmt.Sprintf("L%04d000", block))
		for i := range 1000 {
			if got := customerPartition("P00000001", fmt.Sprintf("L%04d%03d", block, i)); got != want {
				t.Fatalf("L%04d%03d in partition %d, the rest of its block in %d", block, i, got, want)
			}
		}
		used[want]++
	}
	if len(used) < Partitions*3/4 {
		t.Errorf("200 blocks in %d of %d partitions", len(used), Partitions)
	}
	for _, id := range []string{"", "7", "C12", "ab-cd"} {
		if p := customerPartition("P00000001", id); p < 0 || p >= Partitions {
			t.Errorf("%q: partition %d", id, p)
		}
	}
	differ := 0
	for block := range 50 {
		id := fmt.Sprintf("L%04d000", block)
		if customerPartition("P00000001", id) != customerPartition("P00000002", id) {
			differ++
		}
	}
	if differ < 40 {
		t.Errorf("the same ids in two accounts share a partition %d times of 50", 50-differ)
	}
}
