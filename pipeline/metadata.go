package pipeline

import (
	"encoding/json"
	"sort"
)

// metaPair is one metadata key with its string value.
type metaPair struct{ key, value string }

// encodeMetadata renders pairs as a JSON object with sorted keys, so the same
// input always yields the same bytes. Later pairs with the same key win.
func encodeMetadata(buf []byte, pairs []metaPair) []byte {
	if len(pairs) == 0 {
		return append(buf, "{}"...)
	}
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].key < pairs[j].key })
	buf = append(buf, '{')
	n := 0
	for i, p := range pairs {
		if i+1 < len(pairs) && pairs[i+1].key == p.key {
			continue
		}
		if n > 0 {
			buf = append(buf, ',')
		}
		k, _ := json.Marshal(p.key)
		v, _ := json.Marshal(p.value)
		buf = append(append(append(buf, k...), ':'), v...)
		n++
	}
	return append(buf, '}')
}
