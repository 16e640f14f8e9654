-- name: InsertLedgerEntry :one
INSERT INTO paas_ledger (organization_id, amount_micros, kind, description, reference)
VALUES ($1, $2, $3, $4, $5) RETURNING *;

-- name: GetWallet :one
SELECT * FROM paas_wallets WHERE organization_id = $1;

-- name: ListLedger :many
SELECT * FROM paas_ledger WHERE organization_id = $1 ORDER BY id DESC LIMIT $2;
