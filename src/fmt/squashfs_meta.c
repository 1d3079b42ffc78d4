/* The squashfs writer's metadata: inode numbers, inodes, directories, the
 * id, xattr, fragment and export tables, the super block (mkl_sqfs_finish;
 * the order and why are in squashfs.c's head comment). */
#include "fmt/squashfs_int.h"

/* ---- metadata ---------------------------------------------------------- */

static uint32_t clamp_time(int64_t t)
{
	if (t < 0)
		return 0;
	if (t > (int64_t)UINT32_MAX)
		return UINT32_MAX;
	return (uint32_t)t;
}

/* Linux's new_encode_dev(), which the squashfs kernel driver decodes. */
static uint32_t encode_dev(uint64_t rdev)
{
	uint32_t maj = major(rdev), min = minor(rdev);

	return (min & 0xff) | ((maj & 0xfff) << 8) | ((min & ~0xffu) << 12);
}

/* Clear inode numbers left by anyone before us. */
static void clear_numbers(struct mkl_node *dir)
{
	struct mkl_node *c;

	dir->inode = 0;
	for (c = dir->children; c; c = c->next) {
		c->inode = 0;
		if (c->link)
			c->link->inode = 0;
		if (mkl_is_dir(c))
			clear_numbers(c);
	}
}

/* Pass 1: number inodes in the order pass 2 writes them. */
static int number_inodes(struct mkl_sqfs *sq, struct mkl_node *dir, struct mkl_err *err)
{
	struct mkl_node *c, *ino;

	for (c = dir->children; c; c = c->next) {
		if (mkl_is_dir(c)) {
			if (c->link)
				return node_error(err, EINVAL, "squashfs: hard-linked directory",
						  c);
			if (number_inodes(sq, c, err))
				return -1;
			continue;
		}
		ino = mkl_node_inode(c);
		if (ino->inode == 0) {
			if (sq->ninodes == UINT32_MAX - 1)
				return mkl_error(err, EOVERFLOW, "squashfs: too many inodes");
			ino->inode = ++sq->ninodes;
		}
		c->inode = ino->inode;
	}
	if (sq->ninodes == UINT32_MAX - 1)
		return mkl_error(err, EOVERFLOW, "squashfs: too many inodes");
	dir->inode = ++sq->ninodes;
	return 0;
}

static int xattr_block(struct mkl_sqfs *sq, const struct mkl_node *node, uint32_t *idx,
		       struct mkl_err *err)
{
	const struct mkl_xattr *x;
	int ret;

	*idx = NO_XATTR;
	if (!node->xattrs)
		return 0;
	ret = sqfs_xattr_writer_begin(sq->xwr, 0);
	if (ret)
		return node_fail(sq, err, ret, "squashfs: cannot record xattrs of", node);
	for (x = node->xattrs; x; x = x->next) {
		/* squashfs stores only the user., trusted. and security.
		 * namespaces; others (system.posix_acl_*) cannot be
		 * represented and are left out, as mksquashfs does. */
		if (sqfs_get_xattr_prefix_id(x->name) < 0)
			continue;
		ret = sqfs_xattr_writer_add(sq->xwr, x->name, x->value, x->size);
		if (ret) {
			char *path = mkl_node_path(node);

			sq_fail(sq, err, ret, "squashfs: cannot record xattr '%s' of '/%s'",
				x->name, path ? path : "?");
			free(path);
			return -1;
		}
	}
	ret = sqfs_xattr_writer_end(sq->xwr, idx);
	if (ret)
		return node_fail(sq, err, ret, "squashfs: cannot record xattrs of", node);
	return 0;
}

/* Fill the fields every inode has, promote to an extended inode when
 * needed and set the link count. */
static int set_common(struct mkl_sqfs *sq, const struct mkl_node *node,
		      sqfs_inode_generic_t *inode, uint32_t nlink, uint32_t xattr,
		      struct mkl_err *err)
{
	int ret;

	ret = sqfs_id_table_id_to_index(sq->ids, node->uid, &inode->base.uid_idx);
	if (!ret)
		ret = sqfs_id_table_id_to_index(sq->ids, node->gid, &inode->base.gid_idx);
	if (ret) {
		if (ret == SQFS_ERROR_OVERFLOW)
			return node_error(err, EOVERFLOW,
					  "squashfs: more than 65536 distinct uids and gids at",
					  node);
		return node_fail(sq, err, ret, "squashfs: cannot record owner of", node);
	}
	inode->base.mode = (sqfs_u16)(node->mode & 0177777);
	inode->base.mod_time = clamp_time(node->mtime);
	inode->base.inode_number = node->inode;

	if (nlink > 1 || xattr != NO_XATTR) {
		ret = sqfs_inode_make_extended(inode);
		if (ret)
			return node_fail(sq, err, ret, "squashfs: cannot make inode of", node);
	}
	switch (inode->base.type) {
	case SQFS_INODE_DIR: inode->data.dir.nlink = nlink; break;
	case SQFS_INODE_EXT_DIR: inode->data.dir_ext.nlink = nlink; break;
	case SQFS_INODE_FILE: break;	/* basic file inodes have nlink 1 */
	case SQFS_INODE_EXT_FILE: inode->data.file_ext.nlink = nlink; break;
	case SQFS_INODE_SLINK: inode->data.slink.nlink = nlink; break;
	case SQFS_INODE_EXT_SLINK: inode->data.slink_ext.nlink = nlink; break;
	case SQFS_INODE_BDEV:
	case SQFS_INODE_CDEV: inode->data.dev.nlink = nlink; break;
	case SQFS_INODE_EXT_BDEV:
	case SQFS_INODE_EXT_CDEV: inode->data.dev_ext.nlink = nlink; break;
	case SQFS_INODE_FIFO:
	case SQFS_INODE_SOCKET: inode->data.ipc.nlink = nlink; break;
	case SQFS_INODE_EXT_FIFO:
	case SQFS_INODE_EXT_SOCKET: inode->data.ipc_ext.nlink = nlink; break;
	}
	if (xattr != NO_XATTR) {
		ret = sqfs_inode_set_xattr_index(inode, xattr);
		if (ret)
			return node_fail(sq, err, ret, "squashfs: cannot set xattrs of", node);
	}
	return 0;
}

static int put_inode(struct mkl_sqfs *sq, const struct mkl_node *node,
		     const sqfs_inode_generic_t *inode, struct mkl_err *err)
{
	sqfs_u64 block;
	sqfs_u32 offset;
	int ret;

	sqfs_meta_writer_get_position(sq->im, &block, &offset);
	ret = sqfs_meta_writer_write_inode(sq->im, inode);
	if (ret)
		return node_fail(sq, err, ret, "cannot write squashfs inode of", node);
	sq->refs[node->inode] = (block << 16) | offset;
	sq->written[node->inode] = true;
	return 0;
}

/* A non-directory inode (regular file, symlink, device, fifo, socket). */
static int write_leaf(struct mkl_sqfs *sq, struct mkl_node *node, struct mkl_err *err)
{
	sqfs_inode_generic_t *inode = NULL;
	struct file_rec *rec;
	uint32_t xattr, nlink = node->nlink ? node->nlink : 1;
	size_t len;
	bool own = true;	/* inode allocated here, free it after */
	int ret;

	if (xattr_block(sq, node, &xattr, err))
		return -1;

	switch (node->mode & S_IFMT) {
	case S_IFREG:
		rec = node->data;
		if (rec) {
			inode = rec->inode;
			own = false;
			if (!inode)
				return node_error(err, EINVAL, "squashfs: no inode for", node);
			break;
		}
		if (node->size != 0)
			return node_error(err, EINVAL, "squashfs: no data was added for", node);
		inode = calloc(1, sizeof(*inode));
		if (!inode)
			break;
		inode->base.type = SQFS_INODE_FILE;
		inode->data.file.fragment_index = 0xFFFFFFFF;
		inode->data.file.fragment_offset = 0xFFFFFFFF;
		break;
	case S_IFLNK:
		len = node->target ? strlen(node->target) : 0;
		if (len == 0)
			return node_error(err, EINVAL, "squashfs: empty symlink target at", node);
		inode = calloc(1, sizeof(*inode) + len + 1);
		if (!inode)
			break;
		inode->base.type = SQFS_INODE_SLINK;
		inode->data.slink.target_size = (sqfs_u32)len;
		inode->payload_bytes_available = (sqfs_u32)len;
		inode->payload_bytes_used = (sqfs_u32)len;
		memcpy(inode->extra, node->target, len);
		break;
	case S_IFBLK:
	case S_IFCHR:
		inode = calloc(1, sizeof(*inode));
		if (!inode)
			break;
		inode->base.type = S_ISBLK(node->mode) ? SQFS_INODE_BDEV : SQFS_INODE_CDEV;
		inode->data.dev.devno = encode_dev(node->rdev);
		break;
	case S_IFIFO:
	case S_IFSOCK:
		inode = calloc(1, sizeof(*inode));
		if (!inode)
			break;
		inode->base.type = S_ISFIFO(node->mode) ? SQFS_INODE_FIFO : SQFS_INODE_SOCKET;
		break;
	default: {
		char *path = mkl_node_path(node);

		mkl_error(err, EINVAL, "squashfs: unsupported file type 0%o at '/%s'",
			  (unsigned)(node->mode & S_IFMT), path ? path : "?");
		free(path);
		return -1;
	}
	}
	if (!inode)
		return mkl_error(err, ENOMEM, "out of memory");

	ret = set_common(sq, node, inode, nlink, xattr, err);
	if (!ret)
		ret = put_inode(sq, node, inode, err);
	if (own)
		free(inode);
	return ret;
}

/* Pass 2: children's inodes, then the listing, then the directory inode. */
static int write_dir(struct mkl_sqfs *sq, struct mkl_node *dir, uint32_t parent_ino,
		     struct mkl_err *err)
{
	sqfs_inode_generic_t *inode;
	struct mkl_node *c, *ino, *prev = NULL;
	uint32_t xattr, nlink = 2;
	int ret;

	for (c = dir->children; c; c = c->next) {
		if (prev && strcmp(prev->name, c->name) >= 0)
			return node_error(err, EINVAL,
					  "squashfs: entries not sorted (tree not finished?) in",
					  dir);
		prev = c;
		if (mkl_is_dir(c)) {
			nlink++;
			if (write_dir(sq, c, dir->inode, err))
				return -1;
			continue;
		}
		ino = mkl_node_inode(c);
		if (!sq->written[ino->inode] && write_leaf(sq, ino, err))
			return -1;
	}

	ret = sqfs_dir_writer_begin(sq->dirw, 0);
	if (ret)
		return node_fail(sq, err, ret, "cannot write squashfs directory", dir);
	for (c = dir->children; c; c = c->next) {
		ino = mkl_node_inode(c);
		ret = sqfs_dir_writer_add_entry(sq->dirw, c->name, ino->inode,
						sq->refs[ino->inode], (sqfs_u16)ino->mode);
		if (ret) {
			char *path = mkl_node_path(c);

			sq_fail(sq, err, ret, "cannot write squashfs directory entry '/%s'",
				path ? path : "?");
			free(path);
			return -1;
		}
	}
	ret = sqfs_dir_writer_end(sq->dirw);
	if (ret)
		return node_fail(sq, err, ret, "cannot write squashfs directory", dir);

	if (xattr_block(sq, dir, &xattr, err))
		return -1;
	inode = sqfs_dir_writer_create_inode(sq->dirw, 0, xattr, parent_ino);
	if (!inode)
		return mkl_error(err, ENOMEM, "out of memory");
	ret = set_common(sq, dir, inode, nlink, xattr, err);
	if (!ret)
		ret = put_inode(sq, dir, inode, err);
	sqfs_free(inode);
	return ret;
}

static int pad_image(struct mkl_sqfs *sq, struct mkl_err *err)
{
	uint64_t size = sq->file->size;
	size_t pad = (size_t)((PAD_SIZE - size % PAD_SIZE) % PAD_SIZE);
	int ret;

	if (pad == 0)
		return 0;
	memset(sq->buf, 0, pad);	/* block_size >= 4 KiB */
	ret = sq->file->base.write_at(&sq->file->base, size, sq->buf, pad);
	if (ret)
		return sq_fail(sq, err, ret, "cannot pad squashfs image");
	return 0;
}

int mkl_sqfs_finish(struct mkl_sqfs *sq, struct mkl_tree *tree, struct mkl_err *err)
{
	struct mkl_node *root = mkl_tree_root(tree);
	sqfs_file_t *file = &sq->file->base;
	int ret;

	if (sq->state != SQ_OPEN)
		return mkl_error(err, EINVAL, sq->state == SQ_FINISHED
				 ? "squashfs image already finished"
				 : "squashfs image failed earlier, cannot finish");
	sq->state = SQ_FAILED;	/* until we get to the end */

	ret = sqfs_block_processor_finish(sq->proc);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs data");

	if (!root || !mkl_is_dir(root))
		return mkl_error(err, EINVAL, "squashfs: the tree root is not a directory");

	sq->ninodes = 0;
	clear_numbers(root);
	if (number_inodes(sq, root, err))
		return -1;
	sq->refs = mkl_calloc((size_t)sq->ninodes + 1, sizeof(*sq->refs), err);
	sq->written = mkl_calloc((size_t)sq->ninodes + 1, sizeof(*sq->written), err);
	if (!sq->refs || !sq->written)
		return -1;

	/* inodes go straight to the file; directories are kept in memory
	 * and follow the inode table */
	sq->im = sqfs_meta_writer_create(file, sq->cmp, 0);
	sq->dm = sqfs_meta_writer_create(file, sq->cmp, SQFS_META_WRITER_KEEP_IN_MEMORY);
	if (sq->dm)
		sq->dirw = sqfs_dir_writer_create(sq->dm, SQFS_DIR_WRITER_CREATE_EXPORT_TABLE);
	if (!sq->im || !sq->dm || !sq->dirw)
		return mkl_error(err, ENOMEM, "out of memory creating squashfs tables");

	sq->super.inode_table_start = file->get_size(file);
	if (write_dir(sq, root, sq->ninodes + 1, err))
		return -1;
	ret = sqfs_meta_writer_flush(sq->im);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs inode table");
	ret = sqfs_meta_writer_flush(sq->dm);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs directory table");
	sq->super.directory_table_start = file->get_size(file);
	ret = sqfs_meta_write_write_to_file(sq->dm);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs directory table");
	sq->super.root_inode_ref = sq->refs[root->inode];
	sq->super.inode_count = sq->ninodes;

	ret = sqfs_frag_table_write(sq->frags, file, &sq->super, sq->cmp);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs fragment table");
	ret = sqfs_dir_writer_write_export_table(sq->dirw, file, sq->cmp, root->inode,
						 sq->super.root_inode_ref, &sq->super);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs export table");
	ret = sqfs_id_table_write(sq->ids, file, &sq->super, sq->cmp);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs id table");
	ret = sqfs_xattr_writer_flush(sq->xwr, file, &sq->super, sq->cmp);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs xattr table");

	sq->super.bytes_used = file->get_size(file);
	ret = sqfs_super_write(&sq->super, file);
	if (ret)
		return sq_fail(sq, err, ret, "cannot write squashfs super block");
	if (pad_image(sq, err))
		return -1;
	/* the dm-verity tree after the image: every block was hashed as it
	 * was written but those written again (the super block) */
	if (sq->file->verity &&
	    mkl_verity_finish(sq->file->verity, sq->file->fd, sq->file->at, sq->file->size,
			      &sq->vres, err))
		return -1;
	sq->state = SQ_FINISHED;
	return 0;
}
