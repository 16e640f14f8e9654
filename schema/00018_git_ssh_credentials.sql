-- +goose Up
-- A git credential is either a token (HTTP basic auth for http(s) URLs of
-- its host, as before) or an SSH deploy key (for ssh:// URLs of its host).
-- An SSH key's private half is sealed in token_encrypted exactly as a token
-- is (secret.GitCredentialAD(<organization id>, <host>)), so paasd
-- rotate-key re-seals both kinds. public_key is the key's public half
-- (authorized_keys format, to paste as the repository's deploy key);
-- known_hosts holds the host key line(s) the owner pinned: a clone accepts
-- only those keys, never whatever the host presents.
ALTER TABLE paas_git_credentials
    ADD COLUMN kind text NOT NULL DEFAULT 'token' CHECK (kind IN ('token', 'ssh')),
    ADD COLUMN public_key text NOT NULL DEFAULT '',
    ADD COLUMN known_hosts text NOT NULL DEFAULT '',
    ADD CONSTRAINT paas_git_credentials_ssh_pins CHECK (
        (kind = 'ssh') = (known_hosts <> '') AND (kind = 'ssh') = (public_key <> ''));

-- +goose Down
ALTER TABLE paas_git_credentials
    DROP CONSTRAINT paas_git_credentials_ssh_pins,
    DROP COLUMN known_hosts,
    DROP COLUMN public_key,
    DROP COLUMN kind;
