package jepsen

import (
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

const ms = int64(time.Millisecond)

func w(c int, key string, v int64, call, ret int64, o Outcome) Op {
	return Op{Client: c, Node: "n1", Kind: "write", Key: key, Value: v, Outcome: o, Call: call * ms, Return: ret * ms}
}
func r(c int, kind, key string, v int64, call, ret int64) Op {
	return Op{Client: c, Node: "n2", Kind: kind, Key: key, Value: v, Outcome: OK, Call: call * ms, Return: ret * ms}
}

func hasAnomaly(an []Anomaly, checker, substr string) bool {
	for _, a := range an {
		if a.Checker == checker && strings.Contains(a.What, substr) {
			return true
		}
	}
	return false
}

func TestRegistersLinearizablePasses(t *testing.T) {
	h := []Op{
		w(0, "a", 1, 0, 10, OK),
		r(1, "read", "a", 0, 1, 3),   // concurrent with the write: may see nothing
		r(1, "read", "a", 1, 5, 8),   // concurrent: may see it
		w(2, "a", 2, 20, 30, Info),   // indeterminate: may or may not apply
		r(1, "read", "a", 1, 40, 41), // the info write did not apply (yet)
		r(0, "read", "a", 2, 50, 51), // now it did
		w(0, "b", 3, 0, 5, Fail),     // failed: never visible
		w(0, "b", 4, 6, 7, OK),
		r(0, "final-read", "a", 2, 60, 61),
		r(1, "final-read", "b", 4, 60, 61),
	}
	res := CheckRegisters(h, 5*time.Second)
	if res.Linearizable != porcupine.Ok || len(res.Anomalies) != 0 {
		t.Fatalf("linearizable history rejected: %v %v", res.Linearizable, res.Anomalies)
	}
}

func TestRegistersCatchLostWrite(t *testing.T) {
	// Write 2 acknowledged, then after a full restart the final read sees 1:
	// what an ack-before-commit build produces.
	h := []Op{
		w(0, "a", 1, 0, 10, OK),
		w(0, "a", 2, 20, 30, OK),
		r(1, "final-read", "a", 1, 100, 101),
	}
	res := CheckRegisters(h, 5*time.Second)
	if res.Linearizable != porcupine.Illegal {
		t.Fatalf("porcupine accepted a lost write: %v", res.Linearizable)
	}
	if !hasAnomaly(res.Anomalies, "registers", "lost write") {
		t.Fatalf("lost write not named: %v", res.Anomalies)
	}
}

func TestRegistersCatchLostWriteToAbsent(t *testing.T) {
	h := []Op{w(0, "a", 1, 0, 10, OK), r(1, "final-read", "a", 0, 100, 101)}
	res := CheckRegisters(h, 5*time.Second)
	if res.Linearizable != porcupine.Illegal || !hasAnomaly(res.Anomalies, "registers", "lost write") {
		t.Fatalf("lost write to absent not caught: %v %v", res.Linearizable, res.Anomalies)
	}
}

func TestRegistersCatchStaleRead(t *testing.T) {
	// A minority leader answering a read from its own state.
	h := []Op{
		w(0, "a", 1, 0, 10, OK),
		w(0, "a", 2, 20, 30, OK),
		r(1, "read", "a", 1, 40, 41),
		r(1, "final-read", "a", 2, 60, 61),
	}
	res := CheckRegisters(h, 5*time.Second)
	if res.Linearizable != porcupine.Illegal || !hasAnomaly(res.Anomalies, "registers", "stale read") {
		t.Fatalf("stale read not caught: %v %v", res.Linearizable, res.Anomalies)
	}
}

func TestRegistersCatchNonMonotonicReadsOnlyPorcupine(t *testing.T) {
	// Two concurrent writes; readers disagree on their order: no single
	// direct rule fires, but no linearization exists.
	h := []Op{
		w(0, "a", 1, 0, 100, OK),
		w(1, "a", 2, 0, 100, OK),
		r(2, "read", "a", 1, 110, 111),
		r(2, "read", "a", 2, 112, 113),
		r(2, "read", "a", 1, 114, 115),
		r(3, "final-read", "a", 1, 200, 201),
	}
	res := CheckRegisters(h, 5*time.Second)
	if res.Linearizable != porcupine.Illegal {
		t.Fatalf("porcupine accepted a flip-flopping register")
	}
}

func TestRegistersCatchPhantomAndMissingFinalRead(t *testing.T) {
	h := []Op{w(0, "a", 1, 0, 10, OK), r(1, "read", "a", 7, 20, 21), w(0, "b", 2, 0, 10, OK), r(1, "final-read", "a", 1, 30, 31)}
	res := CheckRegisters(h, 5*time.Second)
	if !hasAnomaly(res.Anomalies, "registers", "no write") {
		t.Fatalf("phantom value not caught: %v", res.Anomalies)
	}
	if !hasAnomaly(res.Anomalies, "durability", "no final read of b") {
		t.Fatalf("unverified key not reported: %v", res.Anomalies)
	}
}

func subWrite(id string, shard int, call, ret int64, o Outcome) SubWrite {
	return SubWrite{DocID: id, Node: "n2", Shard: shard, Outcome: o, Call: call * ms, Return: ret * ms}
}

func baseSubs() SubHistory {
	return SubHistory{
		Sessions: []SubSession{{Sub: 0, Session: 0, Node: "n1", From: 100 * ms, To: 10000 * ms, Ended: "drained"}},
		Writes: []SubWrite{
			subWrite("before", 0, 50, 60, OK),  // before subscribe: not required
			subWrite("d1", 0, 200, 210, OK),    // required
			subWrite("d2", 0, 300, 310, Info),  // indeterminate: allowed, not required
			subWrite("other", 1, 400, 410, OK), // other topic
		},
		Notifications: []Notification{{Sub: 0, Session: 0, DocID: "d1", At: 215 * ms}},
	}
}

func TestSubscriptionsExactDeliveryPasses(t *testing.T) {
	st, an := CheckSubscriptions(baseSubs())
	if len(an) != 0 || st.Required != 1 || st.Delivered != 1 {
		t.Fatalf("good history rejected: %+v %v", st, an)
	}
}

func TestSubscriptionsCatchMissed(t *testing.T) {
	h := baseSubs()
	h.Notifications = nil
	if _, an := CheckSubscriptions(h); !hasAnomaly(an, "subscriptions", "missed d1") {
		t.Fatalf("missed notification not caught: %v", an)
	}
}

func TestSubscriptionsCatchDuplicate(t *testing.T) {
	h := baseSubs()
	h.Notifications = append(h.Notifications, Notification{Sub: 0, Session: 0, DocID: "d1", At: 216 * ms})
	if _, an := CheckSubscriptions(h); !hasAnomaly(an, "subscriptions", "received d1 2 times") {
		t.Fatalf("duplicate not caught: %v", an)
	}
}

func TestSubscriptionsCatchPhantomAndWrongTopic(t *testing.T) {
	h := baseSubs()
	h.Writes = append(h.Writes, subWrite("failed", 0, 500, 510, Fail))
	h.Notifications = append(h.Notifications,
		Notification{Sub: 0, Session: 0, DocID: "ghost", At: 300 * ms},
		Notification{Sub: 0, Session: 0, DocID: "failed", At: 520 * ms},
		Notification{Sub: 0, Session: 0, DocID: "other", At: 420 * ms})
	_, an := CheckSubscriptions(h)
	for _, want := range []string{"which no writer wrote", "whose write failed", "not its topic"} {
		if !hasAnomaly(an, "subscriptions", want) {
			t.Errorf("%q not caught: %v", want, an)
		}
	}
}

func TestSubscriptionsExcuseImpairedNodeAndCountGap(t *testing.T) {
	h := baseSubs()
	h.Notifications = nil
	h.Impaired = map[string][]Window{"n1": {{From: 150 * ms, To: 250 * ms}}}
	st, an := CheckSubscriptions(h)
	if len(an) != 0 || st.Excused != 1 {
		t.Fatalf("impaired node not excused: %+v %v", st, an)
	}
	// The node exits at 2500ms; the subscriber is back at 3000ms elsewhere.
	h = baseSubs()
	h.Sessions = []SubSession{
		{Sub: 0, Session: 0, Node: "n1", From: 100 * ms, To: 2500 * ms, Ended: "EOF"},
		{Sub: 0, Session: 1, Node: "n3", From: 3000 * ms, To: 10000 * ms, Ended: "drained"},
	}
	h.Writes = append(h.Writes, subWrite("in-gap", 0, 2600, 2700, OK), subWrite("after", 0, 4000, 4010, OK))
	h.Notifications = []Notification{{Sub: 0, Session: 0, DocID: "d1"}, {Sub: 0, Session: 1, DocID: "after"}}
	st, an = CheckSubscriptions(h)
	if len(an) != 0 || st.Gap != 1 || st.Reconnects != 1 || st.Required != 2 {
		t.Fatalf("gap not accounted: %+v %v", st, an)
	}
}

func TestLeadersCatchTwoInOneTerm(t *testing.T) {
	ok := []LeaderClaim{{"", "a", "a", 2, 0}, {"", "b", "a", 2, 1}, {"", "b", "b", 3, 2}, {"other-group", "z", "z", 3, 2}}
	if an := CheckLeaders(ok); len(an) != 0 {
		t.Fatalf("one leader per term rejected: %v", an)
	}
	bad := append(ok, LeaderClaim{"", "c", "c", 3, 3})
	if an := CheckLeaders(bad); len(an) != 1 || !strings.Contains(an[0].What, "term 3") {
		t.Fatalf("two leaders in term 3 not caught: %v", an)
	}
}

func rmw(c int, kind, key string, v, prev int64, applied bool, call, ret int64, o Outcome) Op {
	return Op{Client: c, Node: "n1", Kind: kind, Key: key, Value: v, Prev: prev, Applied: applied, Outcome: o, Call: call * ms, Return: ret * ms}
}

func TestMSRegistersLinearizablePasses(t *testing.T) {
	h := []Op{
		rmw(0, opSetNX, "c", 1, 0, true, 0, 10, OK),   // absent: stored
		rmw(1, opSetNX, "c", 2, 0, false, 20, 30, OK), // present: not stored
		rmw(0, opSwap, "c", 3, 1, false, 40, 50, OK),  // swaps 1 for 3
		r(1, "read", "c", 3, 60, 61),
		rmw(0, opDel, "c", 0, 0, true, 70, 80, OK), // a value was there
		r(1, "read", "c", 0, 90, 91),
		rmw(1, opDel, "c", 0, 0, false, 92, 93, OK),       // nothing left
		rmw(0, opSetNX, "c", 4, 0, true, 100, 110, OK),    // absent again: stored
		rmw(1, opSwap, "c", 5, 0, false, 120, 130, Info),  // unknown: may apply later
		rmw(0, opSetNX, "c", 6, 0, false, 125, 126, Fail), // failed: never visible
		r(1, "read", "c", 4, 140, 141),
		r(0, "final-read", "c", 5, 200, 201), // the swap applied after all
	}
	res := CheckRegisters(h, 5*time.Second)
	if res.Linearizable != porcupine.Ok || len(res.Anomalies) != 0 {
		t.Fatalf("linearizable ms history rejected: %v %v", res.Linearizable, res.Anomalies)
	}
}

func TestMSRegistersCatchTwoSetNXWinners(t *testing.T) {
	// Two clients both told their set-if-absent stored: a broken lock.
	h := []Op{
		rmw(0, opSetNX, "c", 1, 0, true, 0, 10, OK),
		rmw(1, opSetNX, "c", 2, 0, true, 20, 30, OK),
		r(1, "final-read", "c", 2, 40, 41),
	}
	if res := CheckRegisters(h, 5*time.Second); res.Linearizable != porcupine.Illegal {
		t.Fatalf("porcupine accepted two set-if-absent winners: %v", res.Linearizable)
	}
}

func TestMSRegistersCatchStaleSwap(t *testing.T) {
	// The swap answers a value overwritten before it began.
	h := []Op{
		w(0, "c", 1, 0, 10, OK),
		w(0, "c", 2, 20, 30, OK),
		rmw(1, opSwap, "c", 3, 1, false, 40, 50, OK),
		r(1, "final-read", "c", 3, 60, 61),
	}
	if res := CheckRegisters(h, 5*time.Second); res.Linearizable != porcupine.Illegal {
		t.Fatalf("porcupine accepted a swap of a stale value: %v", res.Linearizable)
	}
}

func TestMSRegistersCatchLostDelete(t *testing.T) {
	// An acknowledged delete, then the deleted value again.
	h := []Op{
		w(0, "c", 1, 0, 10, OK),
		rmw(0, opDel, "c", 0, 0, true, 20, 30, OK),
		r(1, "final-read", "c", 1, 40, 41),
	}
	if res := CheckRegisters(h, 5*time.Second); res.Linearizable != porcupine.Illegal {
		t.Fatalf("porcupine accepted a value back after its delete: %v", res.Linearizable)
	}
}

func secHistory() SecHistory {
	return SecHistory{
		Tokens: []SecToken{
			{Name: "u/login0", User: "u", Kind: "login", Issued: 10 * ms},
			{Name: "u/apikey1", User: "u", Kind: "apikey", Issued: 20 * ms},
			{Name: "v/login2", User: "v", Kind: "login", Issued: 30 * ms},
		},
		Revocations: []SecRevocation{
			{Method: "auth:logout", Node: "n1", User: "u", Token: "u/login0", Outcome: OK, Call: 100 * ms, Return: 200 * ms},
			{Method: "security:revokeTokens", Node: "n2", User: "v", Outcome: Info, Call: 100 * ms, Return: 3100 * ms},
		},
		Uses: []SecUse{
			{Node: "n1", Token: "u/login0", Action: "auth:getCurrentUser", Outcome: OK, Call: 50 * ms, Return: 60 * ms},       // before
			{Node: "n2", Token: "u/login0", Action: "auth:getCurrentUser", Outcome: OK, Call: 150 * ms, Return: 210 * ms},     // concurrent with the logout
			{Node: "n3", Token: "u/login0", Action: "ms:get", Outcome: Fail, Refused: true, Call: 250 * ms, Return: 260 * ms}, // after: refused
			{Node: "n4", Token: "u/login0", Action: "ms:get", Outcome: Info, Err: "timeout", Call: 300 * ms, Return: 3300 * ms},
			{Node: "n3", Token: "u/apikey1", Action: "auth:getMyRights", Outcome: OK, Call: 300 * ms, Return: 310 * ms},  // not covered by a logout
			{Node: "n3", Token: "v/login2", Action: "auth:getMyRights", Outcome: OK, Call: 4000 * ms, Return: 4010 * ms}, // unknown revocation
		},
	}
}

func TestSecurityCorrectHistoryPasses(t *testing.T) {
	st, an := CheckSecurity(secHistory())
	if len(an) != 0 {
		t.Fatalf("correct history rejected: %v", an)
	}
	if st.Revoked != 1 || st.Unknown != 1 || st.After != 2 || st.RefusedOK != 1 || st.Served != 0 || st.Live != 2 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestSecurityCatchServedAfterRevocation(t *testing.T) {
	h := secHistory()
	h.Uses = append(h.Uses, SecUse{Node: "n5", Token: "u/login0", Action: "auth:getCurrentUser", Outcome: OK, Call: 201 * ms, Return: 205 * ms})
	st, an := CheckSecurity(h)
	if st.Served != 1 || !hasAnomaly(an, "security", "login token u/login0 of u served by n5") {
		t.Fatalf("served-after-revocation not caught: %+v %v", st, an)
	}
}

func TestSecurityRevokeAllCoversEveryEarlierToken(t *testing.T) {
	h := secHistory()
	h.Revocations = append(h.Revocations, SecRevocation{Method: "security:deleteUser", Node: "n1", User: "u", Outcome: OK, Call: 400 * ms, Return: 500 * ms})
	h.Tokens = append(h.Tokens, SecToken{Name: "u/login9", User: "u", Kind: "login", Issued: 600 * ms}) // after: not covered
	h.Uses = append(h.Uses,
		SecUse{Node: "n2", Token: "u/apikey1", Action: "ms:get", Outcome: OK, Call: 501 * ms, Return: 510 * ms},
		SecUse{Node: "n2", Token: "u/login9", Action: "ms:get", Outcome: OK, Call: 700 * ms, Return: 710 * ms})
	_, an := CheckSecurity(h)
	if len(an) != 1 || !hasAnomaly(an, "security", "apikey token u/apikey1") {
		t.Fatalf("want exactly the API key use after deleteUser: %v", an)
	}
}
