-- +goose Up
-- disabled_at: a platform administrator disabled the user; its logins and
-- every credential it holds are refused while it is set. session_epoch is
-- written into every login token (JWT) issued to the user; bumping it ends
-- every such session at once (a password change, disabling), as a JWT
-- cannot be revoked one by one. Both are read with the user on every
-- request, and paas_api_users_changed announces their changes ('auth').
ALTER TABLE paas_users
    ADD COLUMN disabled_at timestamptz,
    ADD COLUMN session_epoch bigint NOT NULL DEFAULT 0;

-- viewer: a read-only member. It reads the organization's apps, releases,
-- events and logs but writes nothing, and sees env keys without values.
ALTER TABLE paas_memberships DROP CONSTRAINT paas_memberships_role_check;
ALTER TABLE paas_memberships ADD CONSTRAINT paas_memberships_role_check
    CHECK (role IN ('owner', 'member', 'viewer'));

-- +goose Down
DELETE FROM paas_memberships WHERE role = 'viewer';
ALTER TABLE paas_memberships DROP CONSTRAINT paas_memberships_role_check;
ALTER TABLE paas_memberships ADD CONSTRAINT paas_memberships_role_check
    CHECK (role IN ('owner', 'member'));
ALTER TABLE paas_users DROP COLUMN session_epoch, DROP COLUMN disabled_at;
