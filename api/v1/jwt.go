package v1

import (
	"errors"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/skypanel/paas/api/problem"
)

// claims are a login token's: the registered ones, and the user's session
// epoch when it was issued (see paas_users.session_epoch).
type claims struct {
	jwt.RegisteredClaims
	Epoch int64 `json:"sep,omitempty"`
}

// jwtIdentity is what a verified login token says.
type jwtIdentity struct {
	user  uuid.UUID
	epoch int64
}

// jwtLeeway tolerates clock skew on exp and nbf.
const jwtLeeway = 5 * time.Second

// verifyJWT checks a login token's signature, algorithm, issuer, audience
// and expiry, and returns its user and epoch. Tokens already verified are
// remembered with their expiry (see verifiedJWTs), which is still checked.
func (s *server) verifyJWT(token string) (jwtIdentity, error) {
	now := s.Now()
	if id, ok := s.jwts.lookup(token, now); ok {
		return id, nil
	}
	var cl claims
	_, err := jwt.ParseWithClaims(token, &cl, func(*jwt.Token) (any, error) { return s.JWTSecret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(jwtIssuer), jwt.WithAudience(jwtAudience),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.Now), jwt.WithLeeway(jwtLeeway))
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return jwtIdentity{}, problem.Unauthorized("the login token has expired; log in again")
		}
		return jwtIdentity{}, problem.Unauthorized("the token is not valid")
	}
	uid, err := uuid.Parse(cl.Subject)
	if err != nil {
		return jwtIdentity{}, problem.Unauthorized("the token is not valid")
	}
	id := jwtIdentity{user: uid, epoch: cl.Epoch}
	s.jwts.remember(token, id, cl.ExpiresAt.Time)
	return id, nil
}

// verifiedJWTs remembers login tokens whose signature was verified, so a
// client's next requests skip decoding and HMAC. Only a token that passed
// every check gets in, keyed by its full text; its expiry is checked on
// every use, and the user is still read from the database on every
// request, so nothing is trusted longer than the token itself says.
type verifiedJWTs struct {
	mu sync.Mutex
	m  map[string]verifiedJWT
}

type verifiedJWT struct {
	id  jwtIdentity
	exp time.Time
}

const maxVerifiedJWTs = 10000

func (v *verifiedJWTs) lookup(token string, now time.Time) (jwtIdentity, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[token]
	if !ok || !now.Before(e.exp.Add(jwtLeeway)) {
		return jwtIdentity{}, false
	}
	return e.id, true
}

func (v *verifiedJWTs) remember(token string, id jwtIdentity, exp time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= maxVerifiedJWTs {
		v.m = make(map[string]verifiedJWT)
	}
	v.m[token] = verifiedJWT{id: id, exp: exp}
}

// issueJWT signs a login token for a user at its session epoch.
func (s *server) issueJWT(userID uuid.UUID, epoch int64) (string, time.Time, error) {
	now := s.Now()
	exp := now.Add(s.TokenTTL)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{jwt.RegisteredClaims{
		Issuer: jwtIssuer, Subject: userID.String(), Audience: jwt.ClaimStrings{jwtAudience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)),
		ExpiresAt: jwt.NewNumericDate(exp), ID: uuid.NewString(),
	}, epoch})
	signed, err := tok.SignedString(s.JWTSecret)
	return signed, exp, err
}
