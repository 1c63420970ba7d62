package mongo

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// TestTxnOptions: a transaction reads at the primary with majority read
// and write concern whatever the URI says (MongoDB refuses a transaction
// that reads from a secondary).
func TestTxnOptions(t *testing.T) {
	var o options.TransactionOptions
	for _, set := range txnOptions().List() {
		if err := set(&o); err != nil {
			t.Fatal(err)
		}
	}
	if o.ReadPreference == nil || o.ReadPreference.Mode() != readpref.PrimaryMode {
		t.Errorf("read preference %v, want primary", o.ReadPreference)
	}
	if o.ReadConcern == nil || o.ReadConcern.Level != "majority" {
		t.Errorf("read concern %v, want majority", o.ReadConcern)
	}
	if o.WriteConcern == nil || o.WriteConcern.W != "majority" {
		t.Errorf("write concern %v, want majority", o.WriteConcern)
	}
}
